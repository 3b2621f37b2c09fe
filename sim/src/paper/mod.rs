//! The paper exchange: the two simulated venues ([`SimVenue`]), the market they trade
//! on ([`MarketSource`]), and the network between them and their clients, as one
//! sans-IO state machine. The simulated world, `propbot replay` and the service's paper
//! mode all drive it; none of them builds venues, a market or a latency model of its
//! own.
//!
//! A request handed to [`PaperExchange::submit_from`] (or [`VenueGateway::submit`])
//! reaches its venue after one network latency, and each answer travels back after
//! another (drawn per answer from the seeded `latency` stream, or fixed). Market data
//! reaches clients in one of two ways ([`MarketFeed`]): the exchange publishes its
//! source's updates to every connected client after a market-data latency (the world,
//! where each instance has a feed of its own that faults can gap), or the driver hands
//! updates to its engine itself (the replay and the service).
//!
//! Everything in flight waits in one bounded latency queue ([`queue::LatencyQueue`])
//! ordered by `(time, sequence)`; [`PaperExchange::step`] carries out the earliest item
//! that is due, and [`VenueGateway::poll_response`] steps until an answer comes out. A
//! driver with a schedule of its own takes its tie-break numbers from
//! [`PaperExchange::next_sequence`], so that events due at the same instant run in the
//! order they were scheduled, whichever queue holds them.
//!
//! Several clients (the world's engine instances) share the venues: an answer goes to
//! the client that owns the order, on the connection it has when the answer leaves; a
//! client that reconnects (a restarted process) never hears answers meant for its old
//! connection. The fault hooks cut links per direction, gap market data and reorder
//! execution reports; venue faults are set on the venues themselves
//! ([`PaperExchange::venue_mut`]).
//!
//! Like the rest of the simulator it reads no clock: every call takes `now`.

mod carry;
mod network;
pub mod queue;
mod step;

pub use carry::CarryOver;
pub use network::{Latency, Way};
pub use step::{Delivery, Message, Step, Stepped};

use crate::rng::Seeds;
use crate::venue::{InstanceId, Routed, SimVenue, VenueParams};
use network::Network;
use propbot_engine::config::Config;
use propbot_engine::gateway::{MarketUpdate, Request, Response, VenueGateway};
use propbot_engine::input::{ReconSnapshot, VenueEventKind};
use propbot_engine::model::Venue;
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};
use propbot_market::source::MarketSource;
use queue::LatencyQueue;

/// Venue housekeeping (dead-man timers) runs this often, besides running exactly at
/// every armed countdown's expiry.
pub const VENUE_TICK_NS: u64 = 100 * NANOS_PER_MILLI;

/// How market data reaches the clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarketFeed {
    /// The exchange publishes each update of its market source to every connected
    /// client after a market-data latency (the simulated world).
    Fanout(Latency),
    /// The driver hands market data to its engine itself, at once: it takes the
    /// source's updates with [`PaperExchange::next_market_update`] (the service) or
    /// brings its own with [`PaperExchange::publish`] (the replay). A resync is then
    /// answered with the venue's book as the answer arrives, so that it continues
    /// exactly the updates the driver has handed over meanwhile.
    Direct,
}

/// How the exchange behaves.
#[derive(Clone, Debug)]
pub struct ExchangeOptions {
    /// Venue model (both venues).
    pub venue: VenueParams,
    /// One-way latency of requests and answers.
    pub latency: Latency,
    /// How market data reaches the clients.
    pub feed: MarketFeed,
    /// Clients registered from the start (numbered from 0; the [`VenueGateway`] view
    /// is client 0); [`PaperExchange::add_client`] registers more.
    pub clients: u8,
}

/// An item of the latency queue.
#[derive(Clone, Debug)]
enum Due {
    /// The market source's next update is published (the fan-out feed).
    Market,
    /// A request reaches its venue.
    Arrival {
        venue: Venue,
        from: InstanceId,
        request: Request,
    },
    /// A message reaches its client.
    Deliver(Delivery),
    /// A resync answer on the direct feed: the book as the answer arrives (`taken` is
    /// the book the request found, should the venue's book go invalid meanwhile).
    Snapshot {
        to: InstanceId,
        session: u64,
        venue: Venue,
        taken: MarketUpdate,
    },
    /// A clock probe reaches its venue.
    Probe {
        venue: Venue,
        from: InstanceId,
        session: u64,
        sent_local: UnixNanos,
    },
    /// Periodic venue housekeeping.
    Tick,
    /// A venue's armed dead-man countdown expires.
    Deadline(Venue),
}

/// The paper exchange. See the module documentation.
#[derive(Clone, Debug)]
pub struct PaperExchange {
    venues: [SimVenue; Venue::COUNT],
    market: Option<MarketSource>,
    feed: MarketFeed,
    network: Network,
    queue: LatencyQueue<Due>,
    carry: Option<CarryOver>,
    /// The dead-man expiry already scheduled, per venue.
    deadlines: [UnixNanos; Venue::COUNT],
    /// Whether venue housekeeping runs (the replay stops it while it drains).
    housekeeping: bool,
}

impl PaperExchange {
    /// An exchange for `config`'s instruments, trading on `market` (`None`: the driver
    /// publishes the market itself), with the venue and network streams of `seeds`
    /// (`venue` 0 and 1, `latency`, `chaos`). Nothing happens before
    /// [`PaperExchange::start`].
    pub fn new(
        config: &Config,
        options: ExchangeOptions,
        market: Option<MarketSource>,
        seeds: &Seeds,
    ) -> PaperExchange {
        let venue = |v: Venue| {
            SimVenue::new(
                v,
                config,
                options.venue.clone(),
                seeds.stream("venue", v.index() as u64),
            )
        };
        let market_latency = match options.feed {
            MarketFeed::Fanout(latency) => latency,
            MarketFeed::Direct => Latency::fixed(0),
        };
        let mut network = Network::new(options.latency, market_latency, seeds);
        for _ in 0..options.clients {
            network.add_client();
        }
        PaperExchange {
            venues: Venue::ALL.map(venue),
            market,
            feed: options.feed,
            network,
            queue: LatencyQueue::default(),
            carry: None,
            deadlines: [UnixNanos::ZERO; Venue::COUNT],
            housekeeping: true,
        }
    }

    /// Carries a paper account over from earlier runs (see [`CarryOver`]).
    pub fn carry_over(&mut self, carry: CarryOver) {
        self.carry = Some(carry);
    }

    /// Opens the exchange at `now`: each venue takes its market's current book, venue
    /// housekeeping starts, and on the fan-out feed the market starts publishing.
    pub fn start(&mut self, now: UnixNanos) {
        if let Some(market) = &self.market {
            let snapshots = Venue::ALL.map(|venue| market.snapshot(venue, now));
            let next = market.peek_time();
            for snapshot in snapshots {
                self.publish(now, &snapshot);
            }
            if let MarketFeed::Fanout(_) = self.feed {
                self.queue.push(now, next, Due::Market);
            }
        }
        self.queue
            .push(now, now.plus_nanos(VENUE_TICK_NS), Due::Tick);
    }

    /// What a directly connected driver's adapter reports as it comes up: each venue
    /// connected, then (with a market source) the venue's current book.
    pub fn opening_events(&self, now: UnixNanos) -> Vec<(Venue, Response)> {
        let venues = self.market.as_ref().map_or(Venue::ALL, |m| m.venues());
        let mut events = Vec::with_capacity(2 * venues.len());
        for venue in venues {
            events.push((venue, Response::Venue(VenueEventKind::Connected)));
            if let Some(market) = &self.market {
                events.push((venue, Response::Market(market.snapshot(venue, now))));
            }
        }
        events
    }

    /// Stops venue housekeeping (periodic ticks and dead-man expiries): what is in
    /// flight still arrives. The replay drains this way after its last message.
    pub fn stop_housekeeping(&mut self) {
        self.housekeeping = false;
        self.queue
            .retain(|d| !matches!(d, Due::Tick | Due::Deadline(_)));
    }

    /// Registers a client (a process that may connect later).
    pub fn add_client(&mut self) -> InstanceId {
        self.network.add_client()
    }

    /// `client` (re)connects: a new connection (answers meant for the old one are
    /// dropped), subscribed to the market feed.
    pub fn connect(&mut self, client: InstanceId) {
        self.network.connect(client);
    }

    /// `client`'s adapter subscribes to the books: on the fan-out feed each venue it
    /// can hear sends it a fresh snapshot.
    pub fn send_books(&mut self, now: UnixNanos, client: InstanceId) {
        let (MarketFeed::Fanout(_), Some(market)) = (self.feed, &self.market) else {
            return;
        };
        let session = self.network.session(client);
        for venue in Venue::ALL {
            if self.network.is_cut(client, venue, Way::ToClient) {
                continue;
            }
            let snapshot = market.snapshot(venue, now);
            let at = now.plus_nanos(self.network.market_latency());
            let delivery = Delivery {
                to: client,
                session,
                venue,
                message: Message::Market(snapshot),
            };
            self.queue.push(now, at, Due::Deliver(delivery));
        }
    }

    /// `client`'s process went down: it leaves the market feed (answers already on
    /// their way still arrive, to nobody).
    pub fn disconnect(&mut self, client: InstanceId) {
        self.network.disconnect(client);
    }

    /// `from` sends `request` to `venue` at `now`; lost if the link is cut.
    pub fn submit_from(
        &mut self,
        now: UnixNanos,
        from: InstanceId,
        venue: Venue,
        request: Request,
    ) {
        if self.network.is_cut(from, venue, Way::ToVenue) {
            return;
        }
        let at = now.plus_nanos(self.network.request_latency());
        self.queue.push(
            now,
            at,
            Due::Arrival {
                venue,
                from,
                request,
            },
        );
    }

    /// `from` asks `venue` for its clock at local time `sent_local`; the answer comes
    /// back as [`Message::Clock`] (unless a link is cut).
    pub fn probe_clock(
        &mut self,
        now: UnixNanos,
        from: InstanceId,
        venue: Venue,
        sent_local: UnixNanos,
    ) {
        if self.network.is_cut(from, venue, Way::ToVenue) {
            return;
        }
        let session = self.network.session(from);
        let at = now.plus_nanos(self.network.request_latency());
        self.queue.push(
            now,
            at,
            Due::Probe {
                venue,
                from,
                session,
                sent_local,
            },
        );
    }

    /// The clock sample a directly connected adapter computes at `now`: the venue's
    /// clock offset, and a round trip of two request latencies.
    pub fn clock_sample(&mut self, now: UnixNanos, venue: Venue) -> VenueEventKind {
        let offset_ns = self.venues[venue.index()].venue_time(now).0 as i64 - now.0 as i64;
        let rtt_ns = 2 * self.network.request_latency();
        VenueEventKind::ClockSample { offset_ns, rtt_ns }
    }

    /// A market update the driver brings (the replay): its venue's book moves and
    /// resting paper orders may fill.
    pub fn publish(&mut self, now: UnixNanos, update: &MarketUpdate) {
        let venue = update.venue();
        let out = self.venues[venue.index()].on_market(now, update);
        self.route(now, venue, out);
    }

    /// When the market source's next update is due (`None`: no source).
    pub fn market_peek_time(&self) -> Option<UnixNanos> {
        self.market.as_ref().map(MarketSource::peek_time)
    }

    /// The market source's next update, stamped `now` (when it reaches the driver) and
    /// applied to its venue (resting paper orders may fill), for a driver on the
    /// direct feed to hand to its engine. `None` without a market source.
    pub fn next_market_update(&mut self, now: UnixNanos) -> Option<MarketUpdate> {
        let (_, mut update) = self.market.as_mut()?.advance();
        match &mut update {
            MarketUpdate::Snapshot { ts, .. }
            | MarketUpdate::Delta { ts, .. }
            | MarketUpdate::Trade { ts, .. } => *ts = now,
        }
        self.publish(now, &update);
        Some(update)
    }

    /// `venue` tells every client it can reach (a maintenance notice).
    pub fn broadcast(&mut self, now: UnixNanos, venue: Venue, response: Response) {
        for client in self.network.clients() {
            if self.network.is_cut(client, venue, Way::ToClient) {
                continue;
            }
            let at = now.plus_nanos(self.network.request_latency());
            let delivery = Delivery {
                to: client,
                session: self.network.session(client),
                venue,
                message: Message::Response(response.clone()),
            };
            self.queue.push(now, at, Due::Deliver(delivery));
        }
    }

    /// `venue` cancels every open order on its own.
    pub fn venue_cancel_all(&mut self, now: UnixNanos, venue: Venue) {
        let out = self.venues[venue.index()].venue_cancel_all(now);
        self.route(now, venue, out);
    }

    /// What `venue` holds at `now`, as its reconciliation answer reports it (with the
    /// carried-over account, if any).
    pub fn reconciliation(&self, venue: Venue, now: UnixNanos) -> ReconSnapshot {
        let mut snap = self.venues[venue.index()].reconciliation(now);
        if let Some(carry) = &self.carry {
            carry.snapshot(&mut snap);
        }
        snap
    }

    /// One draw of the network's request latency, for a driver's other links on the
    /// same network (the world's lease service), which share its latency stream.
    pub fn network_latency_ns(&mut self) -> u64 {
        self.network.request_latency()
    }

    /// A tie-break number for a driver's own schedule (see the module documentation).
    pub fn next_sequence(&mut self) -> u64 {
        self.queue.next_sequence()
    }

    /// `(time, sequence)` of the earliest item in flight.
    pub fn next_due(&self) -> Option<(UnixNanos, u64)> {
        self.queue.peek()
    }

    /// Items in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Items that skipped their latency because the queue was full.
    pub fn overflows(&self) -> u64 {
        self.queue.overflows()
    }

    /// Carries out the earliest item if it is due at or before `now`.
    pub fn step(&mut self, now: UnixNanos) -> Option<Step> {
        let ((at, sequence), due) = self.queue.pop_due(now)?;
        let what = match due {
            Due::Market => self.publish_market(now),
            Due::Arrival {
                venue,
                from,
                request,
            } => self.arrive(now, venue, from, request),
            Due::Deliver(delivery) => self.deliver(delivery),
            Due::Snapshot {
                to,
                session,
                venue,
                taken,
            } => {
                let fresh = self.venues[venue.index()].book_snapshot(taken.instrument(), now);
                self.deliver(Delivery {
                    to,
                    session,
                    venue,
                    message: Message::Response(Response::Market(fresh.unwrap_or(taken))),
                })
            }
            Due::Probe {
                venue,
                from,
                session,
                sent_local,
            } => self.answer_probe(now, venue, from, session, sent_local),
            Due::Tick => {
                for venue in Venue::ALL {
                    let out = self.venues[venue.index()].tick(now);
                    self.route(now, venue, out);
                }
                self.queue
                    .push(now, now.plus_nanos(VENUE_TICK_NS), Due::Tick);
                Stepped::Tick
            }
            Due::Deadline(venue) => {
                let out = self.venues[venue.index()].tick(now);
                self.route(now, venue, out);
                Stepped::Deadline(venue)
            }
        };
        Some(Step { at, sequence, what })
    }

    /// The fan-out feed: the source's next update goes to its venue, then to every
    /// subscribed client that can hear the venue (a gapped link loses some deltas).
    fn publish_market(&mut self, now: UnixNanos) -> Stepped {
        let update = self.next_market_update(now).expect("a market source");
        let venue = update.venue();
        let mut gapped = 0;
        for client in self.network.clients() {
            if !self.network.subscribed(client) || self.network.is_cut(client, venue, Way::ToClient)
            {
                continue;
            }
            if let MarketUpdate::Delta { .. } = update
                && self.network.gap_loses(now, client, venue)
            {
                gapped += 1;
                continue;
            }
            let at = now.plus_nanos(self.network.market_latency());
            let delivery = Delivery {
                to: client,
                session: self.network.session(client),
                venue,
                message: Message::Market(update.clone()),
            };
            self.queue.push(now, at, Due::Deliver(delivery));
        }
        let next = self.market.as_ref().expect("a market source").peek_time();
        self.queue.push(now, next, Due::Market);
        Stepped::Market { gapped }
    }

    /// A request reaches its venue; an armed dead-man countdown gets its expiry
    /// scheduled (the venue checks it continuously).
    fn arrive(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        from: InstanceId,
        request: Request,
    ) -> Stepped {
        let v = venue.index();
        let before = self.venues[v].accepted.len();
        let out = self.venues[v].submit(now, from, request.clone());
        if let Some(until) = self.venues[v].deadman_until()
            && self.housekeeping
            && self.deadlines[v] != until
        {
            self.deadlines[v] = until;
            self.queue.push(now, until, Due::Deadline(venue));
        }
        let accepted = before..self.venues[v].accepted.len();
        self.route(now, venue, out);
        Stepped::Arrival {
            venue,
            from,
            request,
            accepted,
        }
    }

    fn deliver(&mut self, delivery: Delivery) -> Stepped {
        if delivery.session == self.network.session(delivery.to) {
            Stepped::Delivered(delivery)
        } else {
            Stepped::Stale(delivery)
        }
    }

    /// A probe at the venue: the venue's clock goes back to the client.
    fn answer_probe(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        from: InstanceId,
        session: u64,
        sent_local: UnixNanos,
    ) -> Stepped {
        let venue_time = self.venues[venue.index()].venue_time(now);
        let at = now.plus_nanos(self.network.request_latency());
        if !self.network.is_cut(from, venue, Way::ToClient) {
            let delivery = Delivery {
                to: from,
                session,
                venue,
                message: Message::Clock {
                    venue_time,
                    sent_local,
                },
            };
            self.queue.push(now, at, Due::Deliver(delivery));
        }
        Stepped::Probe {
            venue,
            from,
            session,
            sent_local,
        }
    }

    /// Venue answers travel to their clients, each after its own latency, on the
    /// client's current connection (lost if the link is cut).
    fn route(&mut self, now: UnixNanos, venue: Venue, out: Vec<Routed>) {
        for (to, mut response) in out {
            if !self.network.knows(to) || self.network.is_cut(to, venue, Way::ToClient) {
                continue;
            }
            let execution = matches!(response, Response::Execution(_));
            let at = now.plus_nanos(self.network.answer_latency(now, venue, execution));
            if let Some(carry) = &self.carry {
                carry.response(&mut response);
            }
            let session = self.network.session(to);
            let due = match response {
                Response::Market(taken) if self.feed == MarketFeed::Direct => Due::Snapshot {
                    to,
                    session,
                    venue,
                    taken,
                },
                response => Due::Deliver(Delivery {
                    to,
                    session,
                    venue,
                    message: Message::Response(response),
                }),
            };
            self.queue.push(now, at, due);
        }
    }

    /// The venues, in [`Venue::index`] order.
    pub fn venues(&self) -> &[SimVenue; Venue::COUNT] {
        &self.venues
    }

    /// One venue.
    pub fn venue(&self, venue: Venue) -> &SimVenue {
        &self.venues[venue.index()]
    }

    /// One venue, to set its faults (storms, unknown outcomes, maintenance, clock).
    pub fn venue_mut(&mut self, venue: Venue) -> &mut SimVenue {
        &mut self.venues[venue.index()]
    }

    /// The market source.
    pub fn market(&self) -> Option<&MarketSource> {
        self.market.as_ref()
    }

    /// The market source, to move it (price jumps, basis flips).
    pub fn market_mut(&mut self) -> Option<&mut MarketSource> {
        self.market.as_mut()
    }

    /// Whether the link between `client` and `venue` is cut in direction `way`.
    pub fn is_cut(&self, client: InstanceId, venue: Venue, way: Way) -> bool {
        self.network.is_cut(client, venue, way)
    }

    /// Cuts (`true`) or restores the link between `client` and `venue` in direction
    /// `way`.
    pub fn set_cut(&mut self, client: InstanceId, venue: Venue, way: Way, cut: bool) {
        self.network.set_cut(client, venue, way, cut);
    }

    /// Gaps `venue`'s market deltas to `client` (one in five lost) until `until`
    /// (`UnixNanos::ZERO` ends the gap).
    pub fn set_gap(&mut self, client: InstanceId, venue: Venue, until: UnixNanos) {
        self.network.set_gap(client, venue, until);
    }

    /// Delays `venue`'s execution reports by a random extra (so they overtake each
    /// other) until `until`.
    pub fn set_reorder(&mut self, venue: Venue, until: UnixNanos) {
        self.network.set_reorder(venue, until);
    }

    /// Heals what the fault hooks broke: every link, every gap, the market's basis
    /// flips, and the venues' storms, unknown outcomes, duplicates and clock offsets.
    /// Maintenance windows and report reordering run their course.
    pub fn heal(&mut self) {
        self.network.heal();
        if let Some(market) = &mut self.market {
            for venue in Venue::ALL {
                market.set_flip(venue, false);
            }
        }
        for v in &mut self.venues {
            v.faults.storm_until = UnixNanos::ZERO;
            v.faults.unknown_until = UnixNanos::ZERO;
            v.faults.duplicate_ppm = 0;
            v.faults.clock_offset_ns = 0;
        }
    }
}

/// The single-client view (client 0) that `propbot replay` and the service use.
impl VenueGateway for PaperExchange {
    fn submit(&mut self, now: UnixNanos, venue: Venue, request: Request) {
        self.submit_from(now, InstanceId(0), venue, request);
    }

    fn poll_response(&mut self, now: UnixNanos) -> Option<(Venue, Response)> {
        while let Some(step) = self.step(now) {
            if let Stepped::Delivered(delivery) = step.what {
                return Some((delivery.venue, delivery.into_response(now)));
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<UnixNanos> {
        self.next_due().map(|(at, _)| at)
    }
}

#[cfg(test)]
mod tests;
