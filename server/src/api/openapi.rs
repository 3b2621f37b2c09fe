//! The OpenAPI 3.1 document, generated from the route table ([`super::routes`]) —
//! the same table the router and the access checks are built from, so the document
//! cannot list a route that does not exist or miss one that does.

use super::{Access, routes};
use serde_json::{Map, Value, json};

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (spec, _) in routes() {
        let mut op = json!({
            "summary": spec.summary,
            "x-access": spec.access.name(),
            "responses": {
                "200": {"description": "OK", "content": {spec.produces: {}}},
                "4XX": {"description": "Error", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if spec.access != Access::Open {
            op["security"] = json!([{"bearer": []}, {}]);
            op["description"] = json!(format!(
                "Role needed: {} (reads are open without a token in the paper profile on loopback).",
                spec.access.name()
            ));
        }
        if let Some(body) = spec.body {
            op["requestBody"] = json!({
                "required": false,
                "description": body,
                "content": {"application/json": {"schema": {"type": "object"}}},
            });
        }
        if !spec.query.is_empty() {
            op["parameters"] = Value::Array(
                spec.query
                    .iter()
                    .map(|(name, d)| {
                        json!({"name": name, "in": "query", "required": false,
                                            "description": d, "schema": {"type": "string"}})
                    })
                    .collect(),
            );
        }
        let entry = paths
            .entry(spec.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[spec.method.as_str().to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "PropBot API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Status, control and audit API of the PropBot service (`propbot serve`).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "details": {}}}},
            }},
        },
    })
}
