//! The lease service (modelled on an etcd election): one holder at a time, a TTL, and
//! an epoch that only grows with each new holder.

use propbot_engine::time::UnixNanos;

/// The lease service.
#[derive(Clone, Debug)]
pub struct LeaseService {
    ttl_ns: u64,
    holder: Option<u8>,
    epoch: u32,
    expires_at: UnixNanos,
    /// Unavailable until (a fault).
    pub down_until: UnixNanos,
    /// Grants of a new epoch so far.
    pub elections: u64,
}

/// The service's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseAnswer {
    /// Held by the asker until `expires_at` (service time) with `epoch`.
    Granted {
        /// Epoch.
        epoch: u32,
    },
    /// Held by someone else.
    Denied,
}

impl LeaseService {
    /// A free lease; epochs start after `first_epoch`.
    pub fn new(ttl_ns: u64, first_epoch: u32) -> LeaseService {
        LeaseService {
            ttl_ns,
            holder: None,
            epoch: first_epoch,
            expires_at: UnixNanos::ZERO,
            down_until: UnixNanos::ZERO,
            elections: 0,
        }
    }

    /// The TTL.
    pub fn ttl_ns(&self) -> u64 {
        self.ttl_ns
    }

    /// Current holder, if the lease has not expired at `now`.
    pub fn holder(&self, now: UnixNanos) -> Option<(u8, u32)> {
        self.holder
            .filter(|_| now < self.expires_at)
            .map(|h| (h, self.epoch))
    }

    /// Acquire or renew for `from`. `None` when the service is down (no answer).
    pub fn request(&mut self, now: UnixNanos, from: u8) -> Option<LeaseAnswer> {
        if now < self.down_until {
            return None;
        }
        match self.holder(now) {
            Some((h, epoch)) if h == from => {
                self.expires_at = now.plus_nanos(self.ttl_ns);
                Some(LeaseAnswer::Granted { epoch })
            }
            Some(_) => Some(LeaseAnswer::Denied),
            None => {
                self.epoch += 1;
                self.elections += 1;
                self.holder = Some(from);
                self.expires_at = now.plus_nanos(self.ttl_ns);
                Some(LeaseAnswer::Granted { epoch: self.epoch })
            }
        }
    }

    /// The holder gives the lease up (a crash is detected by the TTL instead).
    pub fn release(&mut self, from: u8) {
        if self.holder == Some(from) {
            self.holder = None;
        }
    }

    /// `from` resigns the lease of `epoch` (ignored when it holds no such lease).
    pub fn resign(&mut self, from: u8, epoch: u32) {
        if self.holder == Some(from) && self.epoch == epoch {
            self.holder = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_and_growing_epochs() {
        let mut l = LeaseService::new(100, 0);
        assert_eq!(
            l.request(UnixNanos(0), 0),
            Some(LeaseAnswer::Granted { epoch: 1 })
        );
        assert_eq!(l.request(UnixNanos(10), 1), Some(LeaseAnswer::Denied));
        assert_eq!(
            l.request(UnixNanos(50), 0),
            Some(LeaseAnswer::Granted { epoch: 1 }),
            "renewal keeps the epoch"
        );
        assert_eq!(l.request(UnixNanos(149), 1), Some(LeaseAnswer::Denied));
        assert_eq!(
            l.request(UnixNanos(150), 1),
            Some(LeaseAnswer::Granted { epoch: 2 }),
            "expired: a new epoch"
        );
        assert_eq!(l.request(UnixNanos(151), 0), Some(LeaseAnswer::Denied));
        l.down_until = UnixNanos(500);
        assert_eq!(l.request(UnixNanos(200), 1), None);
    }
}
