//! Captures for grok patterns without the general regex machinery.
//!
//! A parser pattern is mostly literal text and runs of one character class
//! (`Failed %{NOTSPACE} for %{USERNAME:user.name} from %{IP:source.ip}`).
//! regex-automata resolves captures in two passes (a lazy DFA finds the
//! match, then a bounded backtracker walks its NFA state by state with a
//! visited set); on parser patterns that was a third of decoding a line.
//! This is a backtracking matcher over the pattern's syntax tree made for
//! that shape: a literal is one comparison, a class run is one tight loop
//! that gives characters back one at a time when what follows fails.
//!
//! Its answers are the regex crate's (leftmost-first, Perl's order of
//! alternatives; a property test compares the two). Two limits keep it
//! safe on hostile lines: a pattern it cannot represent exactly (word
//! boundaries, multi-line anchors, repetitions of what can match empty)
//! is not compiled, and a search that takes more steps than a budget
//! proportional to the line gives up; the caller then asks regex-automata,
//! whose time is linear in the line.

use regex_automata::util::syntax;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Instructions beyond which a pattern is left to regex-automata (counted
/// repetitions of groups are written out).
const MAX_PROGRAM: usize = 4096;

/// The characters of a class: ASCII as a bit set, the rest as ranges.
#[derive(Debug, Clone)]
struct CharSet {
    ascii: [u64; 2],
    /// Sorted, non-overlapping ranges of characters above U+007F.
    wide: Box<[(char, char)]>,
}

impl CharSet {
    fn from_class(class: &Class) -> Option<CharSet> {
        let mut set = CharSet {
            ascii: [0; 2],
            wide: Box::new([]),
        };
        let mut wide = Vec::new();
        let mut add = |lo: u32, hi: u32| {
            for c in lo..=hi.min(0x7F) {
                set.ascii[(c / 64) as usize] |= 1 << (c % 64);
            }
            if hi > 0x7F {
                let lo = char::from_u32(lo.max(0x80))?;
                wide.push((lo, char::from_u32(hi)?));
            }
            Some(())
        };
        match class {
            Class::Unicode(c) => {
                for r in c.ranges() {
                    add(r.start() as u32, r.end() as u32)?;
                }
            }
            // Bytes above 0x7F are not characters of a `&str` line.
            Class::Bytes(c) => {
                for r in c.ranges() {
                    if r.end() > 0x7F {
                        return None;
                    }
                    add(u32::from(r.start()), u32::from(r.end()))?;
                }
            }
        }
        set.wide = wide.into_boxed_slice();
        Some(set)
    }

    #[inline(always)]
    fn has_ascii(&self, b: u8) -> bool {
        b < 0x80 && self.ascii[(b / 64) as usize] & (1 << (b % 64)) != 0
    }

    /// The length of the character at `at` if it is in the set.
    #[inline(always)]
    fn step(&self, hay: &str, at: usize) -> Option<usize> {
        let b = *hay.as_bytes().get(at)?;
        if b < 0x80 {
            return self.has_ascii(b).then_some(1);
        }
        self.step_wide(hay, at)
    }

    /// [`Self::step`] for a character above U+007F.
    #[inline(never)]
    fn step_wide(&self, hay: &str, at: usize) -> Option<usize> {
        if self.wide.is_empty() {
            return None;
        }
        let c = hay.get(at..)?.chars().next()?;
        self.wide
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .ok()
            .map(|_| c.len_utf8())
    }
}

#[derive(Debug, Clone)]
enum Inst {
    Literal(Box<str>),
    /// `min` to `max` characters of a set, as many as possible first
    /// (greedy) or as few.
    Run {
        set: CharSet,
        min: u32,
        max: u32,
        greedy: bool,
        /// Whether giving back characters can let what follows match: not
        /// when what follows is a literal that starts with a character
        /// outside the set, or the line's end (PCRE calls such runs
        /// possessive). Giving back in vain costs a step per character.
        give_back: bool,
        /// The first byte of the literal that follows, if one does: a run
        /// gives back or takes more up to where that byte is, not one
        /// character at a time with a failed try at each.
        next_byte: Option<u8>,
    },
    /// Go on at the first; on failure at the second.
    Split(usize, usize),
    Jump(usize),
    /// Record the position in a capture slot.
    Save(usize),
    AssertStart,
    AssertEnd,
    Match,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Program {
    insts: Vec<Inst>,
    /// The longest literal every match contains: a line without it is
    /// refused by one vectorised search instead of a walk of the program.
    required: Option<memchr::memmem::Finder<'static>>,
    /// The length of the shortest match: a shorter line is refused at once.
    min_len: usize,
    /// Two per group, the whole match (group 0) included.
    slot_count: usize,
    anchored: bool,
}

/// Alternatives left to try, and capture slots to restore on the way back.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Try {
        pc: usize,
        at: usize,
    },
    Restore {
        slot: usize,
        old: Option<usize>,
    },
    /// A greedy run stopped at `at`: what follows is tried next one
    /// character earlier, down to `floor`.
    GiveBack {
        next: usize,
        floor: usize,
        at: usize,
    },
    /// A lazy run of `run` stopped at `at` after `count` characters: what
    /// follows is tried next one character later.
    TakeMore {
        run: usize,
        at: usize,
        count: u32,
    },
}

/// A search's reusable memory.
#[derive(Debug, Default)]
pub struct Scratch {
    slots: Vec<Option<usize>>,
    stack: Vec<Frame>,
}

impl Scratch {
    /// The span of capture group `group` of the last match.
    pub fn group(&self, group: usize) -> Option<std::ops::Range<usize>> {
        let start = (*self.slots.get(group * 2)?)?;
        let end = (*self.slots.get(group * 2 + 1)?)?;
        Some(start..end)
    }
}

/// What a search found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Match,
    NoMatch,
    /// The budget ran out: ask the general engine.
    GaveUp,
}

impl Program {
    /// Compiles `pattern`; `None` when it uses what this matcher does not
    /// do exactly as regex-automata does.
    pub fn new(pattern: &str) -> Option<Program> {
        let hir = syntax::parse(pattern).ok()?;
        let mut insts = vec![Inst::Save(0)];
        compile(&hir, &mut insts)?;
        insts.push(Inst::Save(1));
        insts.push(Inst::Match);
        if insts.len() > MAX_PROGRAM {
            return None;
        }
        mark_possessive_runs(&mut insts);
        let groups = hir.properties().explicit_captures_len() + 1;
        let anchored = hir.properties().look_set_prefix().contains(Look::Start);
        let required =
            longest_required_literal(&hir).map(|lit| memchr::memmem::Finder::new(lit).into_owned());
        Some(Program {
            insts,
            required,
            min_len: hir.properties().minimum_len().unwrap_or(0),
            slot_count: groups * 2,
            anchored,
        })
    }

    /// The leftmost-first match in `hay`, into `scratch`. It is tried at
    /// the start first (a match there is the leftmost one); for a pattern
    /// not anchored there, `find_start` (a general engine's search, linear
    /// in the line) then says where one starts, if anywhere.
    pub fn captures(
        &self,
        hay: &str,
        scratch: &mut Scratch,
        find_start: impl FnOnce() -> Option<usize>,
    ) -> Outcome {
        if hay.len() < self.min_len {
            return Outcome::NoMatch;
        }
        if let Some(required) = &self.required {
            if required.find(hay.as_bytes()).is_none() {
                return Outcome::NoMatch;
            }
        }
        let outcome = self.captures_at(hay, 0, scratch);
        if outcome != Outcome::NoMatch || self.anchored {
            return outcome;
        }
        match find_start() {
            Some(start) if start > 0 => self.captures_at(hay, start, scratch),
            _ => Outcome::NoMatch,
        }
    }

    /// The leftmost-first match starting at `start`, into `scratch`.
    fn captures_at(&self, hay: &str, start: usize, scratch: &mut Scratch) -> Outcome {
        scratch.slots.clear();
        scratch.slots.resize(self.slot_count, None);
        scratch.stack.clear();
        scratch.stack.push(Frame::Try { pc: 0, at: start });
        // Room for every instruction to run a few times at every position
        // of a short line; real lines need a few dozen steps.
        let mut budget = 1024 + 32 * hay.len();
        while let Some(frame) = scratch.stack.pop() {
            let Some((pc, at)) = self.resume(frame, hay, scratch, &mut budget) else {
                continue;
            };
            match self.run_from(pc, at, hay, scratch, &mut budget) {
                Outcome::NoMatch => continue,
                done => return done,
            }
        }
        Outcome::NoMatch
    }

    /// Where a popped frame says to go on, if anywhere. The characters a
    /// run gives back or takes more are charged to the budget as a run's
    /// are, so that no line makes the search more than linear.
    fn resume(
        &self,
        frame: Frame,
        hay: &str,
        scratch: &mut Scratch,
        budget: &mut usize,
    ) -> Option<(usize, usize)> {
        match frame {
            Frame::Try { pc, at } => Some((pc, at)),
            Frame::Restore { slot, old } => {
                scratch.slots[slot] = old;
                None
            }
            Frame::GiveBack { next, floor, at } => {
                let back = self.given_back(next - 1, floor, at, hay)?;
                *budget = budget.saturating_sub((at - back) / 16);
                if back > floor {
                    scratch.stack.push(Frame::GiveBack {
                        next,
                        floor,
                        at: back,
                    });
                }
                Some((next, back))
            }
            Frame::TakeMore {
                run,
                at: from,
                count,
            } => {
                let (at, count) = self.taken_more(run, from, count, hay)?;
                *budget = budget.saturating_sub((at - from) / 16);
                scratch.stack.push(Frame::TakeMore { run, at, count });
                Some((run + 1, at))
            }
        }
    }

    /// Where a greedy run that ended at `at` ends next when what follows
    /// failed: one character earlier, or at the last place before where
    /// the literal that follows can start; not before `floor`.
    fn given_back(&self, run: usize, floor: usize, at: usize, hay: &str) -> Option<usize> {
        if let Inst::Run {
            next_byte: Some(b), ..
        } = &self.insts[run]
        {
            return memchr::memrchr(*b, hay.as_bytes().get(floor..at)?).map(|i| floor + i);
        }
        let mut back = at.checked_sub(1)?;
        while !hay.is_char_boundary(back) {
            back -= 1;
        }
        Some(back)
    }

    /// Where a lazy run that ended at `at` after `count` characters ends
    /// next when what follows failed: one character later, or at the next
    /// place where the literal that follows can start.
    fn taken_more(&self, run: usize, at: usize, count: u32, hay: &str) -> Option<(usize, u32)> {
        let Inst::Run {
            set,
            max,
            next_byte,
            ..
        } = &self.insts[run]
        else {
            return None;
        };
        let (mut at, mut count) = (at, count);
        loop {
            if count >= *max {
                return None;
            }
            at += set.step(hay, at)?;
            count += 1;
            if next_byte.is_none_or(|b| hay.as_bytes().get(at) == Some(&b)) {
                return Some((at, count));
            }
        }
    }

    /// Runs one thread of the search until it matches or fails.
    fn run_from(
        &self,
        mut pc: usize,
        mut at: usize,
        hay: &str,
        scratch: &mut Scratch,
        budget: &mut usize,
    ) -> Outcome {
        loop {
            *budget = match budget.checked_sub(1) {
                Some(b) => b,
                None => return Outcome::GaveUp,
            };
            match &self.insts[pc] {
                Inst::Literal(text) => {
                    if !has_at(hay.as_bytes(), at, text.as_bytes()) {
                        return Outcome::NoMatch;
                    }
                    at += text.len();
                }
                Inst::Run { .. } => {
                    let Some(end) = self.run(pc, at, hay, scratch) else {
                        return Outcome::NoMatch;
                    };
                    // A long run is one step, but its loop costs time too.
                    *budget = budget.saturating_sub((end - at) / 16);
                    at = end;
                }
                Inst::Split(first, second) => {
                    scratch.stack.push(Frame::Try { pc: *second, at });
                    pc = *first;
                    continue;
                }
                Inst::Jump(to) => {
                    pc = *to;
                    continue;
                }
                Inst::Save(slot) => {
                    let old = scratch.slots[*slot];
                    scratch.stack.push(Frame::Restore { slot: *slot, old });
                    scratch.slots[*slot] = Some(at);
                }
                Inst::AssertStart if at == 0 => {}
                Inst::AssertEnd if at == hay.len() => {}
                Inst::AssertStart | Inst::AssertEnd => return Outcome::NoMatch,
                Inst::Match => return Outcome::Match,
            }
            pc += 1;
        }
    }

    /// Takes the run at `pc` from `start`; its end, with what to try if
    /// what follows fails left on the stack.
    fn run(&self, pc: usize, start: usize, hay: &str, scratch: &mut Scratch) -> Option<usize> {
        let Inst::Run {
            set,
            min,
            max,
            greedy,
            give_back,
            ..
        } = &self.insts[pc]
        else {
            return None;
        };
        let mut at = start;
        let mut count = 0;
        let mut floor = start;
        let limit = if *greedy { *max } else { *min };
        let bytes = hay.as_bytes();
        while count < limit {
            // Most characters are ASCII: one bit test, no decoding.
            let len = match bytes.get(at) {
                Some(&b) if set.has_ascii(b) => 1,
                Some(&b) if b >= 0x80 => match set.step_wide(hay, at) {
                    Some(len) => len,
                    None => break,
                },
                _ => break,
            };
            at += len;
            count += 1;
            if count == *min {
                floor = at;
            }
        }
        if count < *min {
            return None;
        }
        if !*greedy {
            scratch.stack.push(Frame::TakeMore { run: pc, at, count });
        } else if *give_back && at > floor {
            scratch.stack.push(Frame::GiveBack {
                next: pc + 1,
                floor,
                at,
            });
        }
        Some(at)
    }
}

/// Appends the instructions of `hir`; `None` for what is not supported.
fn compile(hir: &Hir, insts: &mut Vec<Inst>) -> Option<()> {
    if insts.len() > MAX_PROGRAM {
        return None;
    }
    match hir.kind() {
        HirKind::Empty => {}
        HirKind::Literal(lit) => {
            insts.push(Inst::Literal(std::str::from_utf8(&lit.0).ok()?.into()));
        }
        HirKind::Class(class) => insts.push(Inst::Run {
            set: CharSet::from_class(class)?,
            min: 1,
            max: 1,
            greedy: true,
            give_back: true,
            next_byte: None,
        }),
        HirKind::Look(Look::Start) => insts.push(Inst::AssertStart),
        HirKind::Look(Look::End) => insts.push(Inst::AssertEnd),
        HirKind::Look(_) => return None,
        HirKind::Capture(cap) => {
            let slot = cap.index as usize * 2;
            insts.push(Inst::Save(slot));
            compile(&cap.sub, insts)?;
            insts.push(Inst::Save(slot + 1));
        }
        HirKind::Concat(subs) => {
            for sub in subs {
                compile(sub, insts)?;
            }
        }
        HirKind::Alternation(subs) => compile_alternation(subs, insts)?,
        HirKind::Repetition(rep) => {
            let max = rep.max.unwrap_or(u32::MAX);
            if let HirKind::Class(class) = rep.sub.kind() {
                insts.push(Inst::Run {
                    set: CharSet::from_class(class)?,
                    min: rep.min,
                    max,
                    greedy: rep.greedy,
                    give_back: true,
                    next_byte: None,
                });
            } else {
                compile_repetition(&rep.sub, rep.min, rep.max, rep.greedy, insts)?;
            }
        }
    }
    Some(())
}

/// Whether `hay` holds `lit` at `at`: a byte loop, as literals in
/// patterns are short and a call to `memcmp` costs more than the bytes.
#[inline(always)]
fn has_at(hay: &[u8], at: usize, lit: &[u8]) -> bool {
    hay.get(at..at + lit.len())
        .is_some_and(|h| h.iter().zip(lit).all(|(a, b)| a == b))
}

/// The longest literal of `hir`'s top level (in no alternative and no
/// optional part), which every match must contain.
fn longest_required_literal(hir: &Hir) -> Option<&[u8]> {
    let mut best: Option<&[u8]> = None;
    let mut visit = vec![hir];
    while let Some(h) = visit.pop() {
        match h.kind() {
            HirKind::Literal(lit) if best.is_none_or(|b| lit.0.len() > b.len()) => {
                best = Some(&lit.0);
            }
            HirKind::Concat(subs) => visit.extend(subs),
            HirKind::Capture(cap) => visit.push(&cap.sub),
            HirKind::Repetition(rep) if rep.min > 0 => visit.push(&rep.sub),
            _ => {}
        }
    }
    // One byte is found as fast by the program's own first steps.
    best.filter(|b| b.len() > 1)
}

/// Clears `give_back` of the runs that giving back cannot help.
fn mark_possessive_runs(insts: &mut [Inst]) {
    for pc in 0..insts.len() {
        let Inst::Run { set, .. } = &insts[pc] else {
            continue;
        };
        let next = insts[pc + 1..].iter().find(|i| !matches!(i, Inst::Save(_)));
        let in_vain = match next {
            Some(Inst::Literal(text)) => !text.is_empty() && set.step(text, 0).is_none(),
            Some(Inst::AssertEnd) => true,
            _ => false,
        };
        let first = match next {
            Some(Inst::Literal(text)) => text.as_bytes().first().copied(),
            _ => None,
        };
        if let Inst::Run {
            give_back,
            next_byte,
            ..
        } = &mut insts[pc]
        {
            *give_back = !in_vain;
            *next_byte = first;
        }
    }
}

/// `a|b|c`: try each in order.
fn compile_alternation(subs: &[Hir], insts: &mut Vec<Inst>) -> Option<()> {
    let mut jumps = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        if i + 1 == subs.len() {
            compile(sub, insts)?;
            break;
        }
        let split = insts.len();
        insts.push(Inst::Split(split + 1, 0));
        compile(sub, insts)?;
        jumps.push(insts.len());
        insts.push(Inst::Jump(0));
        let next = insts.len();
        insts[split] = Inst::Split(split + 1, next);
    }
    let end = insts.len();
    for j in jumps {
        insts[j] = Inst::Jump(end);
    }
    Some(())
}

/// `x{min,max}` of a group: `min` copies, then the optional ones (or a
/// loop when there is no maximum).
fn compile_repetition(
    sub: &Hir,
    min: u32,
    max: Option<u32>,
    greedy: bool,
    insts: &mut Vec<Inst>,
) -> Option<()> {
    // A loop over what can match nothing needs the empty-iteration rules
    // of the regex crate; leave those patterns to it.
    if sub.properties().minimum_len() == Some(0) && max != Some(1) {
        return None;
    }
    for _ in 0..min {
        compile(sub, insts)?;
    }
    let split = |body: usize, out: usize| {
        if greedy {
            Inst::Split(body, out)
        } else {
            Inst::Split(out, body)
        }
    };
    match max {
        None => {
            let top = insts.len();
            insts.push(Inst::Split(0, 0));
            compile(sub, insts)?;
            insts.push(Inst::Jump(top));
            insts[top] = split(top + 1, insts.len());
        }
        Some(max) => {
            let mut splits = Vec::new();
            for _ in min..max {
                splits.push(insts.len());
                insts.push(Inst::Split(0, 0));
                compile(sub, insts)?;
            }
            let end = insts.len();
            for s in splits {
                insts[s] = split(s + 1, end);
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;

    /// Every group's text as regex-automata finds it, or `None` for no match.
    fn expected(pattern: &str, hay: &str) -> Option<Vec<Option<String>>> {
        let re = Regex::new(pattern).unwrap();
        let mut caps = re.create_captures();
        re.captures(hay, &mut caps);
        caps.is_match().then(|| {
            (0..caps.group_len())
                .map(|g| caps.get_group(g).map(|s| hay[s.range()].to_string()))
                .collect()
        })
    }

    /// Every group's text as the backtracker finds it; `Err` if it gave up.
    fn found(pattern: &str, hay: &str) -> Result<Option<Vec<Option<String>>>, ()> {
        let program = Program::new(pattern).expect("supported");
        let re = Regex::new(pattern).unwrap();
        let mut scratch = Scratch::default();
        match program.captures(hay, &mut scratch, || Some(re.find(hay)?.start())) {
            Outcome::Match => Ok(Some(
                (0..program.slot_count / 2)
                    .map(|g| scratch.group(g).map(|r| hay[r].to_string()))
                    .collect(),
            )),
            Outcome::NoMatch => Ok(None),
            Outcome::GaveUp => Err(()),
        }
    }

    fn same(pattern: &str, hay: &str) {
        assert_eq!(
            found(pattern, hay),
            Ok(expected(pattern, hay)),
            "{pattern:?} on {hay:?}"
        );
    }

    #[test]
    fn agrees_with_regex_on_log_shapes() {
        let ssh = r"^Failed (\S+) for (?:invalid user )?(\S+) from (\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]+) port ([+-]?\d+)";
        let firewall = r"(?:\[(.*?)\]\s*)?IN=(\S*) OUT=(\S*) .*? PROTO=(\w+)(?: SPT=(\d+))?";
        let cases = [
            (
                ssh,
                "Failed password for root from 203.0.113.9 port 22 ssh2",
            ),
            (
                ssh,
                "Failed password for invalid user admin from 2001:db8::1 port 2 ssh2",
            ),
            (ssh, "Failed password for invalid user from 10.0.0.1 port 2"),
            (ssh, "Failed password for root from 203.0.113 port 22"),
            (
                firewall,
                "[UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 LEN=6 PROTO=TCP SPT=5 DPT=6",
            ),
            (r"(?:\[(.*?)\]\s*)?IN=(\S*) OUT=", "kernel: x IN=eth0 OUT="),
            (r"^(a+?)(b*)c$", "aaabbc"),
            (r"^(a|ab)(c|bcd)(d*)", "abcd"),
            (
                r"^(?i:warn(?:ing)?|err(?:or)?) (x{2,4}?)(x*)$",
                "WARNING xxxxxx",
            ),
            (r"^([^ ]+) ü(\w+)é", "grüße üñé"),
            (r"^(.*)x(.*)$", "aäxbx€c"),
            (r"^((?:ab){1,3}?)(b*)", "abababbb"),
            (r"^(\d+)$", "12a"),
            (r"^$", ""),
        ];
        for (pattern, hay) in cases {
            same(pattern, hay);
        }
    }

    #[test]
    fn what_it_cannot_do_exactly_is_not_compiled() {
        assert!(Program::new(r"\bword\b").is_none());
        assert!(Program::new(r"(?m)^x$").is_none());
        assert!(Program::new(r"(a*)*b").is_none());
        assert!(Program::new(r"(a*)?b").is_some());
    }

    #[test]
    fn a_catastrophic_line_gives_up_instead_of_running_on() {
        let program = Program::new(r"^(a|aa)+(a|aa)+(a|aa)+$").unwrap();
        let hay = format!("{}b", "a".repeat(64));
        let mut scratch = Scratch::default();
        assert_eq!(program.captures_at(&hay, 0, &mut scratch), Outcome::GaveUp);
    }

    /// Every shipped parser's patterns run on the backtracker.
    #[test]
    fn every_shipped_pattern_is_compiled() {
        for parser in crate::parsers::Parsers::shipped().parsers() {
            for (i, grok) in parser.groks().enumerate() {
                assert!(grok.fast.is_some(), "{} pattern {}", parser.name, i + 1);
            }
        }
    }

    mod agreement {
        use super::*;
        use proptest::prelude::*;

        fn leaf() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "a", "b", "ab", " ", "ä", "1", "-", "[ab]", r"\d", r"\S", r"\s", ".", "[^a ]",
                r"\w", "[a-c1]", "(?i:B)",
            ])
            .prop_map(str::to_string)
        }

        fn repeat() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec![
                "", "", "", "*", "+", "?", "{1,3}", "{2}", "*?", "+?", "??", "{0,2}?", "{2,}",
            ])
        }

        fn pattern() -> impl Strategy<Value = String> {
            let atom = (leaf(), repeat()).prop_map(|(l, r)| format!("(?:{l}){r}"));
            atom.prop_recursive(4, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}|{b}")),
                    (inner.clone(), repeat()).prop_map(|(a, r)| format!("({a}){r}")),
                    (inner, repeat()).prop_map(|(a, r)| format!("(?:{a}){r}")),
                ]
            })
        }

        fn haystack() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop::sample::select(vec!['a', 'b', ' ', 'ä', '1', '-', 'B']),
                0..12,
            )
            .prop_map(|v| v.into_iter().collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]
            #[test]
            fn captures_are_the_regex_crates(
                start in any::<bool>(),
                end in any::<bool>(),
                body in pattern(),
                hays in prop::collection::vec(haystack(), 1..6),
            ) {
                let pattern = format!("{}{body}{}", if start { "^" } else { "" }, if end { "$" } else { "" });
                prop_assume!(Program::new(&pattern).is_some());
                for hay in &hays {
                    // A search that gives up is answered by regex-automata.
                    if let Ok(found) = found(&pattern, hay) {
                        prop_assert_eq!(found, expected(&pattern, hay), "{:?} on {:?}", pattern, hay);
                    }
                }
            }
        }
    }
}
