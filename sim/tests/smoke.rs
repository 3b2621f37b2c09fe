use propbot_sim::rng::Seeds;
use propbot_sim::scenario::{Scenario, expand_faults};
use propbot_sim::world::World;

#[test]
fn nominal_single_instance_trades_and_passes_invariants() {
    let text = r#"
name: smoke
description: nominal
world:
  instances: 1
  duration_ms: 60000
  heal_ms: 10000
operator:
  - { at_ms: 8000, action: { kind: resume } }
"#;
    let s = Scenario::from_yaml("smoke", text).unwrap();
    for seed in 0..3 {
        let faults = expand_faults(&s.faults, &mut Seeds::new(seed).stream("faults", 0));
        let mut w = World::new(&s, seed, faults);
        let r = w.run();
        eprintln!("seed {seed}: {:?} figures {:?}", r, w.figures);
        let e = w.instances[0].engine.as_ref().unwrap();
        eprintln!(
            "mode {:?} blockers {:?}",
            e.control().mode,
            e.resume_blockers(e.now())
        );
        assert!(r.is_ok(), "{r:?}");
        assert!(w.figures.orders_sent > 0);
    }
}
