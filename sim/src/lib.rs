//! PropBot's seeded discrete-event simulator: it wraps the production
//! [`propbot_engine::Engine`] (never a copy) in a world of simulated venues, disks and
//! a cluster with a lease service, injects faults, and checks invariants after every
//! step. Built by the simulator issue; must not depend on tokio or any IO crate.
