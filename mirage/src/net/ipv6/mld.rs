//! The multicast listener of MLDv2 (RFC 9777, sections 4 and 6; it
//! obsoletes RFC 3810), as a state machine without I/O, like
//! [`crate::net::ndp::cache`]: every call takes the current time, and the
//! caller sends the reports [`Listener::poll`] returns.
//!
//! A host must report the groups it listens to, its solicited-node groups
//! included, or switches that snoop MLD stop forwarding it the neighbour
//! solicitations sent to them (RFC 4861 section 7.2.1, RFC 8504 section
//! 5.10: nodes MUST support MLDv2 as listeners). So:
//!
//! - a change of the groups (an address added or removed) is told at once
//!   in a state change report (`CHANGE_TO_EXCLUDE_MODE` with no sources for
//!   a join, `CHANGE_TO_INCLUDE_MODE` for a leave), repeated
//!   [`Config::robustness`] − 1 times at random moments of
//!   [`Config::unsolicited_interval_ns`] (section 6.1);
//! - a general query is answered, at a random moment before its maximum
//!   response delay, with a current state report listing every group
//!   (`MODE_IS_EXCLUDE`, no sources); a multicast-address-specific query
//!   for a group we listen to, with that group alone; an answer already
//!   due sooner covers a later query (section 6.2);
//! - no message ever names `ff02::1` (all nodes) or a group of scope 0 or
//!   1 (section 6).
//!
//! Not implemented: source filtering (this host listens to every source of
//! its groups, which is all MLDv2's any-source mode needs), and MLDv1
//! compatibility (section 8: the node answering an MLDv1 querier in MLDv1);
//! MLDv1 queries are counted and ignored.
//!
//! Bounds: the groups are the caller's (one per address); pending answers
//! to group-specific queries are kept only for groups we listen to.

use alloc::vec::Vec;
use core::net::Ipv6Addr;

use crate::net::ipv6::addr::ALL_NODES;
use crate::net::wire::mld::{Query, RecordType};

/// The listener's constants (RFC 9777 section 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The Robustness Variable: how many times a state change report is
    /// sent (default 2).
    pub robustness: u32,
    /// The Unsolicited Report Interval: the longest wait before the repeat
    /// of a state change report (default 1 s).
    pub unsolicited_interval_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            robustness: 2,
            unsolicited_interval_ns: 1_000_000_000,
        }
    }
}

/// A report to send now: a record of `kind` for each of `groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The records' type.
    pub kind: RecordType,
    /// The groups, one record each.
    pub groups: Vec<Ipv6Addr>,
}

/// A state change still to be told.
#[derive(Debug, Clone, Copy)]
struct Change {
    group: Ipv6Addr,
    kind: RecordType,
    /// Reports of it still to send.
    left: u32,
}

/// The MLDv2 listener of one interface.
#[derive(Debug)]
pub struct Listener {
    config: Config,
    /// The groups reported (sorted, reportable only).
    groups: Vec<Ipv6Addr>,
    changes: Vec<Change>,
    /// When the next state change report goes.
    next_change: Option<u64>,
    /// When the answer to a general query goes.
    general_at: Option<u64>,
    /// When the answers to group-specific queries go.
    specific: Vec<(Ipv6Addr, u64)>,
    /// xorshift64 state of the random delays.
    rng: u64,
}

/// Whether MLD messages may name `group` (RFC 9777 section 6): a multicast
/// group other than all nodes, of a scope above interface-local.
pub fn reportable(group: Ipv6Addr) -> bool {
    group.is_multicast() && group != ALL_NODES && group.segments()[0] & 0xf > 1
}

impl Listener {
    /// A listener of no group; `seed` varies the random delays.
    pub fn new(config: Config, seed: u64) -> Self {
        Listener {
            config,
            groups: Vec::new(),
            changes: Vec::new(),
            next_change: None,
            general_at: None,
            specific: Vec::new(),
            rng: seed | 1,
        }
    }

    /// The groups reported.
    pub fn groups(&self) -> &[Ipv6Addr] {
        &self.groups
    }

    /// A random delay in `[0, max_ns]`.
    fn delay(&mut self, max_ns: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if max_ns == 0 {
            0
        } else {
            self.rng % (max_ns + 1)
        }
    }

    /// The groups to listen to are now `wanted` (groups that may not be
    /// reported are left out): joins and leaves are told at once, in a
    /// state change report [`Listener::poll`] returns at `now`.
    pub fn set_groups(&mut self, wanted: &[Ipv6Addr], now: u64) {
        let mut wanted: Vec<Ipv6Addr> = wanted.iter().copied().filter(|g| reportable(*g)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted == self.groups {
            return;
        }
        let joined = wanted.iter().filter(|g| !self.groups.contains(g));
        let left = self.groups.iter().filter(|g| !wanted.contains(g));
        let news: Vec<Change> = joined
            .map(|&group| (group, RecordType::ToExclude))
            .chain(left.map(|&group| (group, RecordType::ToInclude)))
            .map(|(group, kind)| Change {
                group,
                kind,
                left: self.config.robustness.max(1),
            })
            .collect();
        // (A newer change of a group replaces one still being repeated.)
        self.changes
            .retain(|c| !news.iter().any(|n| n.group == c.group));
        self.changes.extend(news);
        self.specific.retain(|(g, _)| wanted.contains(g));
        self.groups = wanted;
        self.next_change = Some(now);
    }

    /// Tells every group again, as a join, in a state change report at
    /// `now` (repeated as any): for when the reports' source changes from
    /// `::` to the link-local address (its DAD done), since switches that
    /// snoop MLD may ignore reports from `::` (Linux sends its reports
    /// again then too).
    pub fn report_again(&mut self, now: u64) {
        if self.groups.is_empty() {
            return;
        }
        let robustness = self.config.robustness.max(1);
        self.changes.clear();
        self.changes.extend(self.groups.iter().map(|&group| Change {
            group,
            kind: RecordType::ToExclude,
            left: robustness,
        }));
        self.next_change = Some(now);
    }

    /// Takes a query received at `now` (its source checked by the caller:
    /// link-local). MLDv1 queries are ignored (`false`).
    pub fn query(&mut self, q: &Query, now: u64) -> bool {
        if q.version != 2 {
            return false;
        }
        let at = now.saturating_add(self.delay(u64::from(q.max_response_ms) * 1_000_000));
        if q.group.is_unspecified() {
            if self.general_at.is_none_or(|t| at < t) {
                self.general_at = Some(at);
            }
        } else if self.groups.contains(&q.group) && self.general_at.is_none_or(|t| t > at) {
            match self.specific.iter_mut().find(|(g, _)| *g == q.group) {
                Some((_, t)) => *t = (*t).min(at),
                None => self.specific.push((q.group, at)),
            }
        }
        true
    }

    /// The reports due at `now`.
    pub fn poll(&mut self, now: u64) -> Vec<Report> {
        let mut reports = Vec::new();
        if self.next_change.is_some_and(|t| t <= now) {
            for kind in [RecordType::ToExclude, RecordType::ToInclude] {
                let groups: Vec<Ipv6Addr> = self
                    .changes
                    .iter()
                    .filter(|c| c.kind == kind)
                    .map(|c| c.group)
                    .collect();
                if !groups.is_empty() {
                    reports.push(Report { kind, groups });
                }
            }
            for c in &mut self.changes {
                c.left -= 1;
            }
            self.changes.retain(|c| c.left > 0);
            self.next_change = if self.changes.is_empty() {
                None
            } else {
                let wait = self.delay(self.config.unsolicited_interval_ns);
                Some(now.saturating_add(wait))
            };
        }
        if self.general_at.is_some_and(|t| t <= now) {
            self.general_at = None;
            // (It answers the group-specific queries as well.)
            self.specific.clear();
            if !self.groups.is_empty() {
                reports.push(Report {
                    kind: RecordType::IsExclude,
                    groups: self.groups.clone(),
                });
            }
        }
        let due: Vec<Ipv6Addr> = self
            .specific
            .iter()
            .filter(|(_, t)| *t <= now)
            .map(|(g, _)| *g)
            .collect();
        if !due.is_empty() {
            self.specific.retain(|(_, t)| *t > now);
            reports.push(Report {
                kind: RecordType::IsExclude,
                groups: due,
            });
        }
        reports
    }

    /// When [`Listener::poll`] next has a report to send.
    pub fn next_deadline(&self) -> Option<u64> {
        let specific = self.specific.iter().map(|(_, t)| *t).min();
        [self.next_change, self.general_at, specific]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const SEC: u64 = 1_000_000_000;
    const G1: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
    const G2: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);

    fn general(max_ms: u32) -> Query {
        Query {
            version: 2,
            max_response_ms: max_ms,
            group: Ipv6Addr::UNSPECIFIED,
            sources: 0,
        }
    }

    /// Polls at every deadline up to `end`: the reports with their times.
    fn run(l: &mut Listener, from: u64, end: u64) -> Vec<(u64, Report)> {
        let mut out = Vec::new();
        let mut now = from;
        while let Some(t) = l.next_deadline().filter(|&t| t <= end) {
            now = now.max(t);
            out.extend(l.poll(now).into_iter().map(|r| (now, r)));
        }
        out
    }

    #[test]
    fn joins_are_reported_at_once_and_once_more_within_the_interval() {
        let mut l = Listener::new(Config::default(), 7);
        l.set_groups(
            &[
                G2,
                G1,
                ALL_NODES,
                G1,
                Ipv6Addr::new(0xff01, 0, 0, 0, 0, 0, 0, 1),
            ],
            10,
        );
        assert_eq!(
            l.groups(),
            [G1, G2],
            "all nodes and interface-local left out"
        );
        let out = run(&mut l, 10, 100 * SEC);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].0, 10);
        assert!(out[1].0 <= 10 + SEC);
        for (_, r) in &out {
            assert_eq!(r.kind, RecordType::ToExclude);
            assert_eq!(r.groups, [G1, G2]);
        }
        assert_eq!(l.next_deadline(), None);
        // Unchanged: nothing.
        l.set_groups(&[G1, G2], 200 * SEC);
        assert_eq!(l.next_deadline(), None);
    }

    #[test]
    fn a_leave_is_reported_and_replaces_a_pending_join() {
        let mut l = Listener::new(Config::default(), 7);
        l.set_groups(&[G1], 0);
        assert_eq!(l.poll(0).len(), 1);
        // G1 leaves and G2 joins before G1's join was repeated.
        l.set_groups(&[G2], 1);
        let out = run(&mut l, 1, 100 * SEC);
        let at_once: Vec<&Report> = out
            .iter()
            .filter(|(t, _)| *t == 1)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(
            at_once,
            [
                &Report {
                    kind: RecordType::ToExclude,
                    groups: vec![G2]
                },
                &Report {
                    kind: RecordType::ToInclude,
                    groups: vec![G1]
                }
            ]
        );
        assert_eq!(out.len(), 4, "each change twice: {out:?}");
    }

    #[test]
    fn every_group_can_be_told_again() {
        let mut l = Listener::new(Config::default(), 9);
        l.report_again(0);
        assert_eq!(l.next_deadline(), None, "no group, nothing");
        l.set_groups(&[G1, G2], 0);
        run(&mut l, 0, 10 * SEC);
        l.report_again(20 * SEC);
        let out = run(&mut l, 20 * SEC, 100 * SEC);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, 20 * SEC);
        assert!(
            out.iter()
                .all(|(_, r)| r.kind == RecordType::ToExclude && r.groups == [G1, G2])
        );
    }

    #[test]
    fn a_general_query_is_answered_with_every_group_within_its_delay() {
        let mut l = Listener::new(Config::default(), 3);
        l.set_groups(&[G1, G2], 0);
        run(&mut l, 0, 10 * SEC);
        assert!(l.query(&general(10_000), 20 * SEC));
        // A later query with a longer delay does not push the answer back.
        let due = l.next_deadline().unwrap();
        assert!((20 * SEC..=30 * SEC).contains(&due), "{due}");
        assert!(l.query(&general(60_000), 21 * SEC));
        let due = l.next_deadline().unwrap();
        assert!(due <= 30 * SEC, "pushed back: {due}");
        let out = run(&mut l, 21 * SEC, 100 * SEC);
        assert_eq!(
            out,
            [(
                due,
                Report {
                    kind: RecordType::IsExclude,
                    groups: vec![G1, G2]
                }
            )]
        );
        // MLDv1 queries are ignored.
        let v1 = Query {
            version: 1,
            ..general(1000)
        };
        assert!(!l.query(&v1, 200 * SEC));
        assert_eq!(l.next_deadline(), None);
    }

    #[test]
    fn a_group_specific_query_is_answered_only_for_our_groups() {
        let mut l = Listener::new(Config::default(), 5);
        l.set_groups(&[G1], 0);
        run(&mut l, 0, 10 * SEC);
        let specific = |group| Query {
            group,
            ..general(1000)
        };
        l.query(&specific(G2), 20 * SEC);
        assert_eq!(l.next_deadline(), None, "not ours");
        l.query(&specific(G1), 20 * SEC);
        let out = run(&mut l, 20 * SEC, 100 * SEC);
        assert_eq!(out.len(), 1);
        assert!(out[0].0 <= 21 * SEC);
        assert_eq!(out[0].1.groups, [G1]);
        // A general answer due sooner covers it.
        l.query(&general(0), 30 * SEC);
        l.query(&specific(G1), 30 * SEC);
        let out = run(&mut l, 30 * SEC, 100 * SEC);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, 30 * SEC);
    }
}
