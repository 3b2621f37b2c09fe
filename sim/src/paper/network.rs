//! The network between the paper venues and their clients: latency draws, the clients'
//! connections, and the link faults a world can inject (cuts per direction, gapped
//! market data, reordered execution reports).

use crate::rng::{Seeds, SimRng};
use crate::venue::InstanceId;
use propbot_engine::model::Venue;
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};

/// Latencies are drawn at this resolution.
const RESOLUTION_NS: u64 = 1_000;
/// Extra delay of an execution report while its venue reorders reports, ms (drawn up
/// to this).
const REORDER_MS_MAX: u64 = 20;
/// While a link gaps market data, one delta in this many is lost.
const GAP_ONE_IN: u64 = 5;

/// A one-way latency: uniform between two bounds (inclusive), at microsecond
/// resolution; fixed when the bounds are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// Lower bound, ns.
    pub lo_ns: u64,
    /// Upper bound, ns.
    pub hi_ns: u64,
}

impl Latency {
    /// Always `ns`.
    pub const fn fixed(ns: u64) -> Latency {
        Latency {
            lo_ns: ns,
            hi_ns: ns,
        }
    }

    /// Uniform between `lo` and `hi` milliseconds.
    pub const fn uniform_ms(lo: u64, hi: u64) -> Latency {
        Latency {
            lo_ns: lo * NANOS_PER_MILLI,
            hi_ns: hi * NANOS_PER_MILLI,
        }
    }

    /// One draw (none from `rng` when the latency is fixed).
    fn draw(&self, rng: &mut SimRng) -> u64 {
        if self.hi_ns <= self.lo_ns {
            return self.lo_ns;
        }
        rng.range(self.lo_ns / RESOLUTION_NS, self.hi_ns / RESOLUTION_NS) * RESOLUTION_NS
    }
}

/// Which way a link carries traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// From the client to the venue (requests, probes).
    ToVenue,
    /// From the venue to the client (answers, market data).
    ToClient,
}

/// One client's connection and the state of its links.
#[derive(Clone, Debug, Default)]
struct Client {
    /// Increments at every connect; answers carry the session they were sent on.
    session: u64,
    /// Receives the market feed (a process that is up).
    subscribed: bool,
    /// Links cut, per venue: `[to the venue, to the client]`.
    cut: [[bool; 2]; Venue::COUNT],
    /// Market deltas are gapped until then, per venue.
    gap_until: [UnixNanos; Venue::COUNT],
}

/// Latency streams, connections and link faults.
#[derive(Clone, Debug)]
pub struct Network {
    /// Requests and answers, one way.
    pub request: Latency,
    /// Market data, one way (the fan-out feed).
    pub market: Latency,
    latency: SimRng,
    chaos: SimRng,
    clients: Vec<Client>,
    /// Execution reports from a venue are reordered until then.
    reorder_until: [UnixNanos; Venue::COUNT],
}

impl Network {
    /// A network with no client yet; streams `latency` and `chaos` of `seeds`.
    pub fn new(request: Latency, market: Latency, seeds: &Seeds) -> Network {
        Network {
            request,
            market,
            latency: seeds.stream("latency", 0),
            chaos: seeds.stream("chaos", 0),
            clients: Vec::new(),
            reorder_until: [UnixNanos::ZERO; Venue::COUNT],
        }
    }

    /// One draw of the request latency.
    pub fn request_latency(&mut self) -> u64 {
        self.request.draw(&mut self.latency)
    }

    /// One draw of the market-data latency.
    pub fn market_latency(&mut self) -> u64 {
        self.market.draw(&mut self.latency)
    }

    /// The delay of an answer from `venue`: one request latency, plus a random extra
    /// for an execution report while the venue reorders them.
    pub fn answer_latency(&mut self, now: UnixNanos, venue: Venue, execution: bool) -> u64 {
        let mut ns = self.request_latency();
        if execution && now < self.reorder_until[venue.index()] {
            ns += self.chaos.range(0, REORDER_MS_MAX) * NANOS_PER_MILLI;
        }
        ns
    }

    /// Whether a gapped link loses this delta (a draw only while the gap lasts).
    pub fn gap_loses(&mut self, now: UnixNanos, client: InstanceId, venue: Venue) -> bool {
        let until = self.clients[usize::from(client.0)].gap_until[venue.index()];
        now < until && self.chaos.below(GAP_ONE_IN) == 0
    }

    /// Registers the next client.
    pub fn add_client(&mut self) -> InstanceId {
        let id = u8::try_from(self.clients.len()).expect("at most 256 clients");
        self.clients.push(Client::default());
        InstanceId(id)
    }

    /// Clients registered.
    pub fn clients(&self) -> impl Iterator<Item = InstanceId> + use<> {
        (0..self.clients.len() as u8).map(InstanceId)
    }

    /// Whether `client` is registered.
    pub fn knows(&self, client: InstanceId) -> bool {
        usize::from(client.0) < self.clients.len()
    }

    /// Opens a new session for `client` and subscribes it to the market feed.
    pub fn connect(&mut self, client: InstanceId) {
        let c = &mut self.clients[usize::from(client.0)];
        c.session += 1;
        c.subscribed = true;
    }

    /// Unsubscribes `client` (its process is down); answers on the way still arrive.
    pub fn disconnect(&mut self, client: InstanceId) {
        self.clients[usize::from(client.0)].subscribed = false;
    }

    /// The current session of `client`.
    pub fn session(&self, client: InstanceId) -> u64 {
        self.clients[usize::from(client.0)].session
    }

    /// Whether `client` receives the market feed.
    pub fn subscribed(&self, client: InstanceId) -> bool {
        self.clients[usize::from(client.0)].subscribed
    }

    /// Whether the link between `client` and `venue` is cut in direction `way`.
    pub fn is_cut(&self, client: InstanceId, venue: Venue, way: Way) -> bool {
        self.clients
            .get(usize::from(client.0))
            .is_some_and(|c| c.cut[venue.index()][way as usize])
    }

    /// Cuts or restores the link between `client` and `venue` in direction `way`.
    pub fn set_cut(&mut self, client: InstanceId, venue: Venue, way: Way, cut: bool) {
        if let Some(c) = self.clients.get_mut(usize::from(client.0)) {
            c.cut[venue.index()][way as usize] = cut;
        }
    }

    /// Gaps `venue`'s market deltas to `client` until `until` (`ZERO`: no gap).
    pub fn set_gap(&mut self, client: InstanceId, venue: Venue, until: UnixNanos) {
        if let Some(c) = self.clients.get_mut(usize::from(client.0)) {
            c.gap_until[venue.index()] = until;
        }
    }

    /// Reorders `venue`'s execution reports until `until`.
    pub fn set_reorder(&mut self, venue: Venue, until: UnixNanos) {
        self.reorder_until[venue.index()] = until;
    }

    /// Restores every link and ends every gap.
    pub fn heal(&mut self) {
        for c in &mut self.clients {
            c.cut = Default::default();
            c.gap_until = [UnixNanos::ZERO; Venue::COUNT];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_drawn_in_bounds_at_microsecond_resolution() {
        let mut rng = Seeds::new(1).stream("t", 0);
        let l = Latency::uniform_ms(2, 8);
        for _ in 0..1_000 {
            let ns = l.draw(&mut rng);
            assert!(
                (2 * NANOS_PER_MILLI..=8 * NANOS_PER_MILLI).contains(&ns),
                "{ns}"
            );
            assert_eq!(ns % RESOLUTION_NS, 0);
        }
        assert_eq!(Latency::fixed(1_500).draw(&mut rng), 1_500);
    }

    #[test]
    fn cuts_are_per_direction_and_heal_restores_them() {
        let mut n = Network::new(Latency::fixed(0), Latency::fixed(0), &Seeds::new(1));
        let c = n.add_client();
        n.set_cut(c, Venue::Okx, Way::ToVenue, true);
        assert!(n.is_cut(c, Venue::Okx, Way::ToVenue));
        assert!(!n.is_cut(c, Venue::Okx, Way::ToClient));
        assert!(!n.is_cut(c, Venue::Binance, Way::ToVenue));
        n.heal();
        assert!(!n.is_cut(c, Venue::Okx, Way::ToVenue));
    }
}
