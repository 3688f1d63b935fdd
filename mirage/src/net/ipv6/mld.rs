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
//! MLDv1 compatibility (section 8.2.1, a MUST): an MLDv1 query (24 bytes)
//! puts the listener in MLDv1 mode for [`Config::older_querier_timeout_ns`]
//! (renewed by each such query), since an MLDv1 router does not understand
//! MLDv2 reports. Entering it cancels what was pending. In that mode the
//! listener speaks RFC 2710: a join is told by an MLDv1 report at once and
//! once more (as many times as [`Config::robustness`]) within the
//! unsolicited interval, a leave by one done; every query (an MLDv2 one is
//! read as MLDv1 reads it) is answered with a report per group asked
//! about, each at its own random moment before the delay, and an answer
//! still pending is dropped when another listener's report for its group
//! is heard ([`Listener::heard_v1_report`], RFC 2710's suppression). When
//! the mode times out, the listener speaks MLDv2 again.
//!
//! Not implemented: source filtering (this host listens to every source of
//! its groups, which is all MLDv2's any-source mode needs); RFC 2710's
//! option to skip the done when another listener's report was the last
//! heard (a done is always sent, which RFC 2710 allows).
//!
//! Bounds: the groups are the caller's (one per address); pending answers
//! to queries are kept only for groups we listen to.

use alloc::vec::Vec;
use core::net::Ipv6Addr;

use crate::net::ipv6::addr::ALL_NODES;
use crate::net::wire::mld::{Query, RecordType, V1Message};

/// The listener's constants (RFC 9777 section 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The Robustness Variable: how many times a state change report is
    /// sent (default 2).
    pub robustness: u32,
    /// The Unsolicited Report Interval: the longest wait before the repeat
    /// of a state change report (default 1 s).
    pub unsolicited_interval_ns: u64,
    /// The Older Version Querier Present Timeout: how long the listener
    /// stays in MLDv1 mode after an MLDv1 query (section 9.12: the
    /// robustness times the Query Interval plus the Query Response
    /// Interval; default 2 × 125 s + 10 s).
    pub older_querier_timeout_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            robustness: 2,
            unsolicited_interval_ns: 1_000_000_000,
            older_querier_timeout_ns: 260_000_000_000,
        }
    }
}

/// A message to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// An MLDv2 report: a record of `kind` for each of `groups`.
    V2 {
        /// The records' type.
        kind: RecordType,
        /// The groups, one record each.
        groups: Vec<Ipv6Addr>,
    },
    /// An MLDv1 message about `group` (MLDv1 compatibility mode).
    V1 {
        /// A report or a done.
        message: V1Message,
        /// The group it is about.
        group: Ipv6Addr,
    },
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
    /// When the answers to group-specific queries go; in MLDv1 mode, when
    /// each group's answer to any query goes.
    specific: Vec<(Ipv6Addr, u64)>,
    /// Until when the listener speaks MLDv1 (an MLDv1 querier was heard).
    v1_until: Option<u64>,
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
            v1_until: None,
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

    /// Whether the listener speaks MLDv1 at `now`; leaves MLDv1 mode when
    /// its time is over (what was pending in MLDv1 is dropped).
    fn v1_mode(&mut self, now: u64) -> bool {
        match self.v1_until {
            Some(until) if now < until => true,
            Some(_) => {
                self.v1_until = None;
                self.specific.clear();
                false
            }
            None => false,
        }
    }

    /// Whether the listener speaks MLDv1 (RFC 9777's Host Compatibility
    /// Mode) as of its last call.
    pub fn in_v1_mode(&self) -> bool {
        self.v1_until.is_some()
    }

    /// Takes a query received at `now` (its source checked by the caller:
    /// link-local). An MLDv1 query starts (or prolongs) MLDv1 mode.
    /// `true`: the query was taken (always, since MLDv1 compatibility).
    pub fn query(&mut self, q: &Query, now: u64) -> bool {
        if q.version == 1 {
            if !self.v1_mode(now) {
                // Section 8.2.1: pending responses and retransmissions go.
                self.changes.clear();
                self.next_change = None;
                self.general_at = None;
                self.specific.clear();
            }
            self.v1_until = Some(now.saturating_add(self.config.older_querier_timeout_ns));
        }
        let max_ns = u64::from(q.max_response_ms) * 1_000_000;
        if self.v1_mode(now) {
            // RFC 2710 section 4: a timer per group asked about, reset
            // only to a sooner moment.
            let asked: Vec<Ipv6Addr> = if q.group.is_unspecified() {
                self.groups.clone()
            } else if self.groups.contains(&q.group) {
                alloc::vec![q.group]
            } else {
                Vec::new()
            };
            for group in asked {
                let at = now.saturating_add(self.delay(max_ns));
                self.answer_by(group, at);
            }
            return true;
        }
        let at = now.saturating_add(self.delay(max_ns));
        if q.group.is_unspecified() {
            if self.general_at.is_none_or(|t| at < t) {
                self.general_at = Some(at);
            }
        } else if self.groups.contains(&q.group) && self.general_at.is_none_or(|t| t > at) {
            self.answer_by(q.group, at);
        }
        true
    }

    /// `group`'s answer goes at `at`, or sooner if already due sooner.
    fn answer_by(&mut self, group: Ipv6Addr, at: u64) {
        match self.specific.iter_mut().find(|(g, _)| *g == group) {
            Some((_, t)) => *t = (*t).min(at),
            None => self.specific.push((group, at)),
        }
    }

    /// Another listener's MLDv1 report for `group` was heard at `now`: in
    /// MLDv1 mode our pending answer for it is dropped (RFC 2710 section
    /// 4: the router needs one listener's answer per group).
    pub fn heard_v1_report(&mut self, group: Ipv6Addr, now: u64) {
        if self.v1_mode(now) {
            self.specific.retain(|(g, _)| *g != group);
        }
    }

    /// The reports due at `now`.
    pub fn poll(&mut self, now: u64) -> Vec<Report> {
        if self.v1_mode(now) {
            return self.poll_v1(now);
        }
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
                    reports.push(Report::V2 { kind, groups });
                }
            }
            self.changes_sent(now);
        }
        if self.general_at.is_some_and(|t| t <= now) {
            self.general_at = None;
            // (It answers the group-specific queries as well.)
            self.specific.clear();
            if !self.groups.is_empty() {
                reports.push(Report::V2 {
                    kind: RecordType::IsExclude,
                    groups: self.groups.clone(),
                });
            }
        }
        let due = self.take_due(now);
        if !due.is_empty() {
            reports.push(Report::V2 {
                kind: RecordType::IsExclude,
                groups: due,
            });
        }
        reports
    }

    /// [`Listener::poll`] in MLDv1 mode: a report per group joined (a done
    /// per group left, once) and per group whose answer is due.
    fn poll_v1(&mut self, now: u64) -> Vec<Report> {
        let mut reports = Vec::new();
        if self.next_change.is_some_and(|t| t <= now) {
            for c in &mut self.changes {
                let message = match c.kind {
                    RecordType::ToInclude => {
                        // (RFC 2710 sends a done once.)
                        c.left = 1;
                        V1Message::Done
                    }
                    _ => V1Message::Report,
                };
                reports.push(Report::V1 {
                    message,
                    group: c.group,
                });
            }
            self.changes_sent(now);
        }
        for group in self.take_due(now) {
            reports.push(Report::V1 {
                message: V1Message::Report,
                group,
            });
        }
        reports
    }

    /// The pending state changes were told once more: the next repeat is
    /// set at a random moment of the unsolicited interval, if any is left.
    fn changes_sent(&mut self, now: u64) {
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

    /// The groups whose answers are due at `now`, taken out.
    fn take_due(&mut self, now: u64) -> Vec<Ipv6Addr> {
        let due: Vec<Ipv6Addr> = self
            .specific
            .iter()
            .filter(|(_, t)| *t <= now)
            .map(|(g, _)| *g)
            .collect();
        if !due.is_empty() {
            self.specific.retain(|(_, t)| *t > now);
        }
        due
    }

    /// When [`Listener::poll`] next has a report to send.
    pub fn next_deadline(&self) -> Option<u64> {
        let specific = self.specific.iter().map(|(_, t)| *t).min();
        [self.next_change, self.general_at, specific, self.v1_until]
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

    /// An MLDv2 report's record type and groups.
    fn v2(r: &Report) -> (RecordType, Vec<Ipv6Addr>) {
        match r {
            Report::V2 { kind, groups } => (*kind, groups.clone()),
            other => panic!("not an MLDv2 report: {other:?}"),
        }
    }

    /// An MLDv1 query.
    fn v1_query(max_ms: u32, group: Ipv6Addr) -> Query {
        Query {
            version: 1,
            max_response_ms: max_ms,
            group,
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
            assert_eq!(v2(r), (RecordType::ToExclude, vec![G1, G2]));
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
                &Report::V2 {
                    kind: RecordType::ToExclude,
                    groups: vec![G2]
                },
                &Report::V2 {
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
                .all(|(_, r)| v2(r) == (RecordType::ToExclude, vec![G1, G2]))
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
                Report::V2 {
                    kind: RecordType::IsExclude,
                    groups: vec![G1, G2]
                }
            )]
        );
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
        assert_eq!(v2(&out[0].1).1, [G1]);
        // A general answer due sooner covers it.
        l.query(&general(0), 30 * SEC);
        l.query(&specific(G1), 30 * SEC);
        let out = run(&mut l, 30 * SEC, 100 * SEC);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, 30 * SEC);
    }

    #[test]
    fn an_mldv1_query_switches_to_mldv1_and_answers_each_group_in_mldv1() {
        let mut l = Listener::new(Config::default(), 11);
        l.set_groups(&[G1, G2], 0);
        // The join's repeat is still pending when the MLDv1 query comes:
        // it is cancelled (section 8.2.1).
        assert_eq!(l.poll(0).len(), 1);
        assert!(l.next_deadline().is_some());
        assert!(l.query(&v1_query(2000, Ipv6Addr::UNSPECIFIED), 5));
        assert!(l.in_v1_mode());
        let out = run(&mut l, 5, 100 * SEC);
        let mut groups: Vec<Ipv6Addr> = out
            .iter()
            .map(|(t, r)| {
                assert!(*t <= 5 + 2 * SEC, "within the delay: {t}");
                match r {
                    Report::V1 {
                        message: V1Message::Report,
                        group,
                    } => *group,
                    other => panic!("not an MLDv1 report: {other:?}"),
                }
            })
            .collect();
        groups.sort_unstable();
        assert_eq!(groups, [G1, G2], "one report per group, no MLDv2: {out:?}");
        // A group-specific query: that group only.
        l.query(&v1_query(0, G2), 150 * SEC);
        assert_eq!(
            l.poll(150 * SEC),
            [Report::V1 {
                message: V1Message::Report,
                group: G2
            }]
        );
        // An MLDv2 query in MLDv1 mode is read as MLDv1 reads it.
        l.query(&general(0), 160 * SEC);
        assert_eq!(l.poll(160 * SEC).len(), 2);
        assert!(l.in_v1_mode());
    }

    #[test]
    fn in_mldv1_mode_joins_are_reports_and_leaves_a_done() {
        let mut l = Listener::new(Config::default(), 13);
        l.query(&v1_query(1000, Ipv6Addr::UNSPECIFIED), 0);
        l.set_groups(&[G1], SEC);
        let out = run(&mut l, SEC, 5 * SEC);
        let report = Report::V1 {
            message: V1Message::Report,
            group: G1,
        };
        assert_eq!(out.len(), 2, "at once and once more: {out:?}");
        assert_eq!(out[0], (SEC, report.clone()));
        assert!(out[1].0 <= 2 * SEC && out[1].1 == report);
        l.set_groups(&[], 10 * SEC);
        let out = run(&mut l, 10 * SEC, 20 * SEC);
        assert_eq!(
            out,
            [(
                10 * SEC,
                Report::V1 {
                    message: V1Message::Done,
                    group: G1
                }
            )],
            "one done"
        );
    }

    #[test]
    fn another_listeners_mldv1_report_suppresses_ours() {
        let mut l = Listener::new(Config::default(), 17);
        l.set_groups(&[G1, G2], 0);
        run(&mut l, 0, 10 * SEC);
        l.query(&v1_query(10_000, Ipv6Addr::UNSPECIFIED), 20 * SEC);
        l.heard_v1_report(G1, 20 * SEC);
        let out = run(&mut l, 20 * SEC, 100 * SEC);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            out[0].1,
            Report::V1 {
                message: V1Message::Report,
                group: G2
            }
        );
        // In MLDv2 mode a heard MLDv1 report changes nothing.
        let mut l = Listener::new(Config::default(), 17);
        l.set_groups(&[G1], 0);
        run(&mut l, 0, 10 * SEC);
        l.query(&general(1000), 20 * SEC);
        l.heard_v1_report(G1, 20 * SEC);
        assert_eq!(run(&mut l, 20 * SEC, 100 * SEC).len(), 1);
    }

    #[test]
    fn mldv1_mode_ends_when_no_mldv1_query_came_for_the_timeout() {
        let config = Config::default();
        let timeout = config.older_querier_timeout_ns;
        let mut l = Listener::new(config, 19);
        l.set_groups(&[G1], 0);
        run(&mut l, 0, 10 * SEC);
        l.query(&v1_query(0, Ipv6Addr::UNSPECIFIED), 20 * SEC);
        // Another MLDv1 query later renews the mode.
        l.query(&v1_query(0, Ipv6Addr::UNSPECIFIED), 100 * SEC);
        assert_eq!(l.poll(100 * SEC).len(), 1);
        assert_eq!(l.next_deadline(), Some(100 * SEC + timeout));
        assert!(l.poll(100 * SEC + timeout - 1).is_empty());
        assert!(l.in_v1_mode());
        assert!(l.poll(100 * SEC + timeout).is_empty());
        assert!(!l.in_v1_mode(), "back to MLDv2");
        assert_eq!(l.next_deadline(), None);
        l.query(&general(0), 100 * SEC + timeout);
        assert_eq!(
            l.poll(100 * SEC + timeout),
            [Report::V2 {
                kind: RecordType::IsExclude,
                groups: vec![G1]
            }]
        );
    }
}
