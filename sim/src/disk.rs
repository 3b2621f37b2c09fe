//! A simulated disk holding one instance's journal: a durable image and an unsynced
//! tail, with a hash chain over the records.
//!
//! At a crash each unsynced record is kept, dropped or torn (seeded); recovery reads
//! the durable image plus whatever survived, verifies the chain and stops at the
//! first torn or broken record, exactly as a real recovery would truncate a torn tail.

use crate::rng::SimRng;
use propbot_engine::digest::Digest;
use propbot_engine::output::JournalRecord;

/// A record as stored: the record, its chain hash, and whether it was torn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The record.
    pub record: JournalRecord,
    /// BLAKE3 over the previous hash and the record.
    pub hash: [u8; 32],
    /// Written only partly (detected on read).
    pub torn: bool,
}

/// What the disk does on write (a scenario fault).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiskFault {
    /// Works.
    #[default]
    None,
    /// Every write fails.
    WriteError,
    /// Full: every write fails.
    Full,
}

/// Result of reading the journal back after a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Records up to the first torn or broken one.
    pub records: Vec<JournalRecord>,
    /// Records dropped at the tail (torn, or after a torn one).
    pub truncated: usize,
}

/// The disk.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    durable: Vec<Stored>,
    unsynced: Vec<Stored>,
    last_hash: [u8; 32],
    /// Active fault.
    pub fault: DiskFault,
    /// Syncs done.
    pub syncs: u64,
    /// Records lost at crashes (dropped or torn).
    pub lost_at_crash: u64,
    /// Last sequence made durable by an explicit sync (what the driver acknowledged).
    pub synced_through: u64,
}

/// Chain hash of a record after `prev`.
pub fn chain(prev: &[u8; 32], record: &JournalRecord) -> [u8; 32] {
    let mut d = Digest::default();
    d.add(prev);
    d.add(record);
    d.value()
}

impl SimDisk {
    /// Appends to the unsynced tail. `Err` on a write fault (the engine must stop).
    pub fn append(&mut self, record: JournalRecord) -> Result<(), DiskFault> {
        if self.fault != DiskFault::None {
            return Err(self.fault);
        }
        let hash = chain(&self.last_hash, &record);
        self.last_hash = hash;
        self.unsynced.push(Stored {
            record,
            hash,
            torn: false,
        });
        Ok(())
    }

    /// Makes the tail durable. Returns the last durable sequence.
    pub fn sync(&mut self) -> u64 {
        self.syncs += 1;
        self.durable.append(&mut self.unsynced);
        self.synced_through = self.last_sequence();
        self.synced_through
    }

    /// Last durable sequence (0 when empty).
    pub fn last_sequence(&self) -> u64 {
        self.durable.last().map_or(0, |s| s.record.sequence)
    }

    /// The durable image.
    pub fn durable(&self) -> &[Stored] {
        &self.durable
    }

    /// Whether a sequence is durable.
    pub fn is_durable(&self, sequence: u64) -> bool {
        sequence > 0 && sequence <= self.last_sequence()
    }

    /// Power loss: each unsynced record is kept, dropped or torn; whatever follows a
    /// dropped record cannot be kept (writes are sequential).
    pub fn crash(&mut self, rng: &mut SimRng) {
        let tail = std::mem::take(&mut self.unsynced);
        let mut broken = false;
        for mut s in tail {
            if broken {
                self.lost_at_crash += 1;
                continue;
            }
            match rng.below(3) {
                0 => self.durable.push(s),
                1 => {
                    broken = true;
                    self.lost_at_crash += 1;
                }
                _ => {
                    s.torn = true;
                    self.durable.push(s);
                    broken = true;
                    self.lost_at_crash += 1;
                }
            }
        }
        self.last_hash = self.durable.last().map_or([0; 32], |s| s.hash);
    }

    /// Reads the journal back: verifies the chain and truncates at the first torn or
    /// broken record (and rewrites the image to that prefix, as recovery would).
    pub fn recover(&mut self) -> Recovered {
        let mut prev = [0u8; 32];
        let mut good = 0;
        for s in &self.durable {
            if s.torn || chain(&prev, &s.record) != s.hash {
                break;
            }
            prev = s.hash;
            good += 1;
        }
        let truncated = self.durable.len() - good;
        self.durable.truncate(good);
        self.last_hash = prev;
        Recovered {
            records: self.durable.iter().map(|s| s.record.clone()).collect(),
            truncated,
        }
    }

    /// Checks the durable image: contiguous sequence, valid chain, non-decreasing
    /// epochs. Returns a description of the first problem.
    pub fn verify(&self) -> Result<(), String> {
        let mut prev = [0u8; 32];
        let mut epoch = 0;
        for (i, s) in self.durable.iter().enumerate() {
            if s.torn {
                return Err(format!("torn record at position {i}"));
            }
            if s.record.sequence != i as u64 + 1 {
                return Err(format!("sequence {} at position {i}", s.record.sequence));
            }
            if chain(&prev, &s.record) != s.hash {
                return Err(format!(
                    "hash chain broken at sequence {}",
                    s.record.sequence
                ));
            }
            if s.record.epoch < epoch {
                return Err(format!("epoch went back at sequence {}", s.record.sequence));
            }
            epoch = s.record.epoch;
            prev = s.hash;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Seeds;
    use propbot_engine::UnixNanos;
    use propbot_engine::output::JournalEvent;

    fn rec(seq: u64) -> JournalRecord {
        JournalRecord {
            sequence: seq,
            ts: UnixNanos(seq),
            epoch: 1,
            event: JournalEvent::LeaseAcquired { epoch: 1 },
        }
    }

    #[test]
    fn synced_records_survive_and_the_tail_is_a_prefix() {
        for seed in 0..50 {
            let mut d = SimDisk::default();
            for s in 1..=5 {
                d.append(rec(s)).unwrap();
            }
            d.sync();
            for s in 6..=9 {
                d.append(rec(s)).unwrap();
            }
            d.crash(&mut Seeds::new(seed).stream("disk", 0));
            let r = d.recover();
            assert!(r.records.len() >= 5, "everything synced survives");
            for (i, x) in r.records.iter().enumerate() {
                assert_eq!(x.sequence, i as u64 + 1, "a prefix, contiguous");
            }
            assert!(d.verify().is_ok());
            // Appending after recovery continues the chain.
            d.append(rec(r.records.len() as u64 + 1)).unwrap();
            d.sync();
            assert!(d.verify().is_ok());
        }
    }

    #[test]
    fn a_tampered_record_breaks_the_chain() {
        let mut d = SimDisk::default();
        for s in 1..=3 {
            d.append(rec(s)).unwrap();
        }
        d.sync();
        d.durable[1].record.ts = UnixNanos(999);
        assert!(d.verify().unwrap_err().contains("hash chain"));
        assert_eq!(d.recover().records.len(), 1);
    }

    #[test]
    fn write_faults_refuse_appends() {
        let mut d = SimDisk {
            fault: DiskFault::WriteError,
            ..SimDisk::default()
        };
        assert_eq!(d.append(rec(1)), Err(DiskFault::WriteError));
    }
}
