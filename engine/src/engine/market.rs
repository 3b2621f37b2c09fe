//! Market data and venue signals: books, continuity, clocks, links, limits, maintenance.

use super::{Engine, book_slot};
use crate::book::{ApplyOutcome, InvalidReason};
use crate::config::MaintenanceWindow;
use crate::guards::{ClockAction, GuardId};
use crate::input::{MarketEvent, VenueEvent, VenueEventKind};
use crate::model::{InstrumentId, Venue};
use crate::output::{JournalEvent, Output, Severity};
use crate::time::{NANOS_PER_MILLI, UnixNanos};

impl Engine {
    pub(super) fn on_market(&mut self, now: UnixNanos, event: MarketEvent<'_>) {
        let venue = event.venue();
        let instrument = event.instrument();
        if instrument.index() >= self.config.instruments.len() {
            self.metrics.malformed[venue.index()].add(now, 1, 1);
            return;
        }
        self.metrics.market_events += 1;
        let last = self.metrics.last_market_at[venue.index()];
        if !last.is_zero() {
            self.metrics.ws_gap_ms[venue.index()]
                .record(now, now.nanos_since(last) / NANOS_PER_MILLI);
        }
        self.metrics.last_market_at[venue.index()] = now;
        let slot = book_slot(venue, instrument);
        let outcome = match event {
            MarketEvent::Snapshot {
                last,
                bids,
                asks,
                ts_exchange,
                ..
            } => {
                self.record_latency(now, venue, ts_exchange);
                self.metrics
                    .levels_per_update
                    .record((bids.len() + asks.len()) as u64);
                let out = self.books[slot].apply_snapshot(now, last, bids, asks);
                if self.books[slot].is_valid()
                    && self.continuity.on_valid(now, venue, instrument).cleared
                {
                    self.cleared(GuardId::SnapshotDiff, Some(venue));
                }
                out
            }
            MarketEvent::Delta {
                sequence,
                bids,
                asks,
                ts_exchange,
                ..
            } => {
                self.record_latency(now, venue, ts_exchange);
                self.metrics
                    .levels_per_update
                    .record((bids.len() + asks.len()) as u64);
                self.books[slot].apply_delta(now, sequence, bids, asks)
            }
            MarketEvent::Bbo { update_id, top, .. } => {
                if let Some(id) = update_id {
                    if id == self.books[slot].last_sequence() && self.books[slot].is_valid() {
                        self.metrics.bbo_checks += 1;
                    }
                    if !self.books[slot].check_bbo(now, id, top) {
                        self.metrics.bbo_mismatches += 1;
                        ApplyOutcome::Invalidated(InvalidReason::BboMismatch)
                    } else {
                        ApplyOutcome::Ignored
                    }
                } else {
                    ApplyOutcome::Ignored
                }
            }
            MarketEvent::BookInvalid { reason, .. } => {
                if self.books[slot].is_valid() {
                    self.books[slot].invalidate(now, reason);
                    ApplyOutcome::Invalidated(reason)
                } else {
                    ApplyOutcome::Ignored
                }
            }
            MarketEvent::Trade { .. } => {
                self.metrics.trades += 1;
                ApplyOutcome::Ignored
            }
        };
        match outcome {
            ApplyOutcome::Applied { top_changed } => {
                self.metrics.book_updates += 1;
                if top_changed {
                    self.metrics.top_changes += 1;
                    self.on_top_change(now, venue, instrument);
                }
            }
            ApplyOutcome::Invalidated(reason) => {
                self.on_book_invalid(now, venue, instrument, reason)
            }
            ApplyOutcome::Stale | ApplyOutcome::Ignored => {}
        }
    }

    fn record_latency(&mut self, now: UnixNanos, venue: Venue, ts_exchange: UnixNanos) {
        if !ts_exchange.is_zero() {
            self.metrics.book_latency_ms[venue.index()]
                .record(now, now.nanos_since(ts_exchange) / NANOS_PER_MILLI);
        }
    }

    fn on_top_change(&mut self, now: UnixNanos, venue: Venue, instrument: InstrumentId) {
        self.update_regime(venue, instrument);
        // Risk first: caps depend on positions and marks only, so re-check them when
        // this venue's mark of a held position moved (fills re-check on their own; the
        // day rolls on the tick), before the strategy may act on the new prices.
        if !self.ledger.position(venue, instrument).qty.is_zero() {
            let slot = book_slot(venue, instrument);
            let mark = super::trading::mark_of(&self.books[slot]);
            if self.caps_marks[slot] != mark {
                self.caps_marks[slot] = mark;
                self.evaluate_caps(now);
            }
        }
        if let Some(p) = self
            .pairs
            .iter()
            .position(|p| p.spec.instrument == instrument)
        {
            self.drive_pair(now, p);
        }
    }

    /// Regime signal: EWMA (α = 1/64) of the absolute mid change between top changes.
    fn update_regime(&mut self, venue: Venue, instrument: InstrumentId) {
        if self.pairs.first().is_none_or(|p| p.spec.venues[0] != venue) {
            return;
        }
        let top = self.books[book_slot(venue, instrument)].top();
        if !top.is_two_sided() {
            return;
        }
        let mid = top.bid.midpoint(top.ask);
        let i = instrument.index();
        let last = self.metrics.last_mid[i];
        self.metrics.last_mid[i] = mid;
        if last.is_zero() {
            return;
        }
        let change = crate::strategy::edge(last, mid).raw().abs();
        let v = &mut self.metrics.volatility_centibps[i];
        *v += (change - *v) / 64;
    }

    fn on_book_invalid(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        instrument: InstrumentId,
        reason: InvalidReason,
    ) {
        let action = self.continuity.on_invalidated(now, venue, instrument);
        self.alert(
            Severity::Warn,
            "snapshot_diff",
            "snapshot_diff",
            format!(
                "{venue} {}: {}; route halted, reinit required",
                self.instrument_name(instrument),
                reason.name()
            ),
        );
        if action.resync {
            self.request_resync(now, venue, instrument);
        }
        if let Some(p) = self
            .pairs
            .iter()
            .position(|p| p.spec.instrument == instrument)
        {
            self.drive_pair(now, p);
        }
    }

    pub(crate) fn request_resync(
        &mut self,
        now: UnixNanos,
        venue: Venue,
        instrument: InstrumentId,
    ) {
        if self
            .rate
            .try_take(now, venue, crate::guards::RequestKind::Snapshot)
        {
            self.emit(Output::Resync { venue, instrument });
        }
    }

    pub(crate) fn instrument_name(&self, instrument: InstrumentId) -> &str {
        self.config
            .instruments
            .get(instrument.index())
            .map_or("?", |i| i.name.as_str())
    }

    /// Periodic continuity checks of every listed route.
    pub(super) fn books_tick(&mut self, now: UnixNanos) {
        for slot in 0..self.books.len() {
            let (venue, instrument) = (self.books[slot].venue, self.books[slot].instrument);
            if self.config.listing(venue, instrument).is_none() {
                continue;
            }
            let a = self.continuity.check(now, &self.books[slot]);
            if a.resync {
                self.request_resync(now, venue, instrument);
            }
            if a.trip {
                self.trip(
                    GuardId::SnapshotDiff,
                    Some(venue),
                    "book invalid past the resync deadline",
                    None,
                );
            }
        }
    }

    pub(super) fn on_venue(&mut self, now: UnixNanos, event: VenueEvent) {
        let venue = event.venue;
        match event.kind {
            VenueEventKind::Connected => self.on_connected(now, venue),
            VenueEventKind::Disconnected { clean } => self.on_disconnected(now, venue, clean),
            VenueEventKind::ClockSample { offset_ns, rtt_ns } => {
                match self.clock.on_sample(now, venue, offset_ns, rtt_ns) {
                    ClockAction::Trip => self.trip(
                        GuardId::ClockSkew,
                        Some(venue),
                        "clock skew beyond clock_skew_guard_ms",
                        None,
                    ),
                    ClockAction::Cleared => self.cleared(GuardId::ClockSkew, Some(venue)),
                    ClockAction::None => {}
                }
            }
            VenueEventKind::RateLimitUsage { weight_used, .. } => {
                self.rate.on_usage(now, venue, weight_used)
            }
            VenueEventKind::RateLimited { retry_after_ns } => {
                self.rate.on_rate_limited(now, venue, retry_after_ns);
                self.alert(
                    Severity::Warn,
                    "rate_limit",
                    "rate_limit",
                    format!("429 from {venue}: backing off places"),
                );
            }
            VenueEventKind::Banned { until } => {
                if self.rate.on_banned(now, venue, until).trip {
                    self.trip(
                        GuardId::RateLimit,
                        Some(venue),
                        "418: IP banned by the venue",
                        Some(until),
                    );
                }
            }
            VenueEventKind::Maintenance {
                start,
                end,
                pre_open_start,
            } => {
                let window = MaintenanceWindow {
                    venue: Some(venue),
                    start,
                    end,
                    pre_open_start,
                    title: "venue notice".into(),
                };
                self.on_maintenance_notice(now, window);
            }
            VenueEventKind::DeadmanArmed { expires_at } => {
                let d = &mut self.deadman[venue.index()];
                d.armed_until = d.armed_until.max(expires_at);
            }
            VenueEventKind::CancelAllDone { ok } => {
                let a = self.disconnect.on_cancel_all_done(now, venue, ok);
                if ok {
                    self.cancel_all_wanted[venue.index()] = None;
                }
                if a.cleared {
                    self.cleared(GuardId::CancelOnDisconnect, Some(venue));
                }
            }
            VenueEventKind::AuthFailed => {
                self.metrics.auth_failures[venue.index()].add(now, 1, 1);
                self.alert(
                    Severity::Error,
                    "auth_failed",
                    "keys_security",
                    format!("{venue} rejected our credentials"),
                );
            }
            VenueEventKind::MalformedMessage => {
                self.metrics.malformed[venue.index()].add(now, 1, 1)
            }
        }
    }

    fn on_connected(&mut self, now: UnixNanos, venue: Venue) {
        let a = self.disconnect.on_connected(now, venue);
        if a.cancel_all {
            self.request_cancel_all(venue, "cancel-on-disconnect (re-sent on reconnect)");
        }
        if a.cleared {
            self.cleared(GuardId::CancelOnDisconnect, Some(venue));
        }
        // After every (re)connect: what happened while the link was down (fills,
        // cancels by the venue's dead-man switch) is read back from the venue. A
        // request still pending went over the dead link: ask again now.
        self.recon[venue.index()].requested = false;
        self.request_reconciliation(venue);
    }

    /// A lost link invalidates the venue's books and cancels everything there.
    fn on_disconnected(&mut self, now: UnixNanos, venue: Venue, clean: bool) {
        let a = self.disconnect.on_disconnected(now, venue, clean);
        for slot in 0..self.books.len() {
            if self.books[slot].venue == venue && self.books[slot].is_valid() {
                self.books[slot].invalidate(now, InvalidReason::FeedLost);
                let instrument = self.books[slot].instrument;
                self.continuity.on_invalidated(now, venue, instrument);
            }
        }
        if a.cancel_all {
            self.request_cancel_all(venue, "cancel-on-disconnect");
        }
        if a.trip {
            let reason = if clean {
                "venue disconnected: cancel-all sent"
            } else {
                "venue stream stalled: cancel-all sent"
            };
            self.trip(GuardId::CancelOnDisconnect, Some(venue), reason, None);
        }
    }

    /// A venue announced maintenance: journaled once, held ahead of time.
    fn on_maintenance_notice(&mut self, now: UnixNanos, window: MaintenanceWindow) {
        if window.end > now && self.maintenance.on_notice(now, window.clone()) {
            self.announced.retain(|w| w.end > now);
            self.announced.push(window.clone());
            self.journal_event(JournalEvent::MaintenanceNotice(window));
            self.maintenance_tick(now);
        }
    }

    /// Asks for a cancel-all on a venue; retried until the governor lets it through.
    pub(crate) fn request_cancel_all(&mut self, venue: Venue, reason: &'static str) {
        self.cancel_all_wanted[venue.index()] = Some(reason);
        self.retry_cancel_alls(self.now);
    }

    pub(super) fn retry_cancel_alls(&mut self, now: UnixNanos) {
        for venue in Venue::ALL {
            let Some(reason) = self.cancel_all_wanted[venue.index()] else {
                continue;
            };
            if !self
                .rate
                .try_take(now, venue, crate::guards::RequestKind::Cancel)
            {
                continue;
            }
            // Sent once; `CancelAllDone` confirms, and reconnects re-send it.
            self.cancel_all_wanted[venue.index()] = None;
            self.orders.cancel_all_sent(now, venue);
            self.emit(Output::CancelAll { venue, reason });
        }
    }
}
