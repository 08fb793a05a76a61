//! NetFlow v5, v9 and IPFIX decoding.
//!
//! Templates are kept per exporter address and observation domain (v9's
//! source id). Data that arrives before its template is held (bounded, for
//! a minute) and decoded when the template comes, instead of being dropped
//! (goflow2#168). Options data that announce a sampling rate (v9 fields 34,
//! 50 with sampler 48; IPFIX 34, 305/306) scale the bytes and packets of
//! that exporter's records; exporters that announce nothing (softflowd,
//! goflow2#170) take the rate configured for them.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One flow as the exporter saw it, sampling applied.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRecord {
    pub exporter: IpAddr,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub tcp_flags: u8,
    pub bytes: u64,
    pub packets: u64,
    pub in_if: u32,
    pub out_if: u32,
    /// Milliseconds since the epoch.
    pub start_ms: i64,
    pub end_ms: i64,
    /// The sampling rate applied (1: none).
    pub sampling: u64,
    /// 5, 9 or 10 (IPFIX).
    pub version: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    id: u16,
    len: u16,
    enterprise: bool,
}

#[derive(Debug, Clone)]
struct Template {
    fields: Vec<Field>,
    /// Options templates: how many leading fields are scope fields.
    scope_fields: usize,
    options: bool,
}

type TemplateKey = (IpAddr, u32, u16);

/// Data waiting for its template.
struct Pending {
    at_ms: i64,
    version: u16,
    export_secs: u32,
    uptime_ms: u32,
    bytes: Vec<u8>,
}

/// What the collector counted (for `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecodeStats {
    pub datagrams: u64,
    pub records: u64,
    pub malformed: u64,
    pub templates: u64,
    /// Data sets held until their template came.
    pub held: u64,
    /// Held data sets that expired or did not fit: records lost, counted.
    pub dropped_sets: u64,
    pub options_records: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("datagram of {0} bytes is too short")]
    Short(usize),
    #[error("unknown NetFlow version {0}")]
    Version(u16),
    #[error("{0}")]
    Malformed(&'static str),
}

/// Most data sets held per exporter while waiting for templates.
const MAX_PENDING_PER_EXPORTER: usize = 4096;
/// How long held data waits for its template.
const PENDING_MS: i64 = 60_000;

#[derive(Default)]
pub struct Decoder {
    templates: HashMap<TemplateKey, Template>,
    pending: HashMap<TemplateKey, Vec<Pending>>,
    pending_count: HashMap<IpAddr, usize>,
    /// (exporter, domain) -> announced sampling rate; sampler ids too.
    sampling: HashMap<(IpAddr, u32), u64>,
    samplers: HashMap<(IpAddr, u32, u64), u64>,
    /// Rates configured for exporters that announce none.
    pub configured_sampling: HashMap<IpAddr, u64>,
    pub stats: DecodeStats,
    /// Held records decoded when their template came, not yet handed out.
    late: Vec<FlowRecord>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Calls `f` with each set (flowset) of `d[start..end]`: its id and body.
/// A set whose length runs past `end` stops the walk with `malformed`
/// (the sets before it were handled).
fn walk_sets<'a>(
    d: &'a [u8],
    start: usize,
    end: usize,
    malformed: &'static str,
    mut f: impl FnMut(u16, &'a [u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut at = start;
    while at + 4 <= end {
        let set_id = be16(d, at).unwrap_or(0);
        let len = be16(d, at + 2).unwrap_or(0) as usize;
        if len < 4 || at + len > end {
            return Err(DecodeError::Malformed(malformed));
        }
        f(set_id, &d[at + 4..at + len])?;
        at += len;
    }
    Ok(())
}

fn be_uint(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one datagram from `exporter`; records are appended to `out`.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        now_ms: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), DecodeError> {
        self.stats.datagrams += 1;
        let before = out.len();
        let result = match be16(datagram, 0) {
            Some(5) => self.v5(exporter, datagram, out),
            Some(9) => self.v9(exporter, datagram, now_ms, out),
            Some(10) => self.ipfix(exporter, datagram, now_ms, out),
            Some(v) => Err(DecodeError::Version(v)),
            None => Err(DecodeError::Short(datagram.len())),
        };
        if result.is_err() {
            self.stats.malformed += 1;
        }
        out.append(&mut self.late);
        self.stats.records += (out.len() - before) as u64;
        self.expire_pending(now_ms);
        result
    }

    fn v5(
        &mut self,
        exporter: IpAddr,
        d: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), DecodeError> {
        if d.len() < 24 {
            return Err(DecodeError::Short(d.len()));
        }
        let count = be16(d, 2).unwrap_or(0) as usize;
        if d.len() < 24 + count * 48 {
            return Err(DecodeError::Malformed(
                "v5: fewer records than the header counts",
            ));
        }
        let uptime = be32(d, 4).unwrap_or(0) as i64;
        let secs = be32(d, 8).unwrap_or(0) as i64;
        let nsecs = be32(d, 12).unwrap_or(0) as i64;
        let export_ms = secs * 1000 + nsecs / 1_000_000;
        let interval = (be16(d, 22).unwrap_or(0) & 0x3fff) as u64;
        let sampling = if interval > 1 {
            interval
        } else {
            self.configured_sampling
                .get(&exporter)
                .copied()
                .unwrap_or(1)
        };
        for i in 0..count {
            let r = &d[24 + i * 48..24 + (i + 1) * 48];
            let ip = |at: usize| IpAddr::V4(Ipv4Addr::new(r[at], r[at + 1], r[at + 2], r[at + 3]));
            let first = be32(r, 24).unwrap_or(0) as i64;
            let last = be32(r, 28).unwrap_or(0) as i64;
            out.push(FlowRecord {
                exporter,
                src: ip(0),
                dst: ip(4),
                in_if: be16(r, 12).unwrap_or(0) as u32,
                out_if: be16(r, 14).unwrap_or(0) as u32,
                packets: be32(r, 16).unwrap_or(0) as u64 * sampling,
                bytes: be32(r, 20).unwrap_or(0) as u64 * sampling,
                start_ms: export_ms - (uptime - first),
                end_ms: export_ms - (uptime - last),
                src_port: be16(r, 32).unwrap_or(0),
                dst_port: be16(r, 34).unwrap_or(0),
                tcp_flags: r[37],
                protocol: r[38],
                sampling,
                version: 5,
            });
        }
        Ok(())
    }

    fn v9(
        &mut self,
        exporter: IpAddr,
        d: &[u8],
        now_ms: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), DecodeError> {
        if d.len() < 20 {
            return Err(DecodeError::Short(d.len()));
        }
        let uptime = be32(d, 4).unwrap_or(0);
        let secs = be32(d, 8).unwrap_or(0);
        let domain = be32(d, 16).unwrap_or(0);
        walk_sets(
            d,
            20,
            d.len(),
            "v9: flowset length runs past the datagram",
            |set_id, body| {
                match set_id {
                    0 => self.templates_v9(exporter, domain, body, false)?,
                    1 => self.templates_v9(exporter, domain, body, true)?,
                    id if id >= 256 => {
                        self.data(exporter, domain, id, body, 9, secs, uptime, now_ms, out)
                    }
                    _ => {}
                }
                Ok(())
            },
        )
    }

    fn ipfix(
        &mut self,
        exporter: IpAddr,
        d: &[u8],
        now_ms: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), DecodeError> {
        if d.len() < 16 {
            return Err(DecodeError::Short(d.len()));
        }
        let total = (be16(d, 2).unwrap_or(0) as usize).min(d.len());
        let secs = be32(d, 4).unwrap_or(0);
        let domain = be32(d, 12).unwrap_or(0);
        walk_sets(
            d,
            16,
            total,
            "IPFIX: set length runs past the message",
            |set_id, body| {
                match set_id {
                    2 => self.templates_ipfix(exporter, domain, body, false)?,
                    3 => self.templates_ipfix(exporter, domain, body, true)?,
                    id if id >= 256 => {
                        self.data(exporter, domain, id, body, 10, secs, 0, now_ms, out)
                    }
                    _ => {}
                }
                Ok(())
            },
        )
    }

    fn templates_v9(
        &mut self,
        exporter: IpAddr,
        domain: u32,
        body: &[u8],
        options: bool,
    ) -> Result<(), DecodeError> {
        let mut at = 0;
        while at + 4 <= body.len() {
            let id = be16(body, at).unwrap_or(0);
            if id < 256 {
                break; // padding
            }
            let (fields, scope_fields, next) = if options {
                let scope_len = be16(body, at + 2).unwrap_or(0) as usize;
                let opt_len = be16(body, at + 4).unwrap_or(0) as usize;
                let mut fields = Vec::new();
                let mut p = at + 6;
                let end = p + scope_len + opt_len;
                if end > body.len() {
                    return Err(DecodeError::Malformed(
                        "v9: options template runs past its flowset",
                    ));
                }
                while p + 4 <= end {
                    // Scope field types live in their own space; keep them apart.
                    let scope = p < at + 6 + scope_len;
                    let raw = be16(body, p).unwrap_or(0);
                    fields.push(Field {
                        id: if scope { 0xF000 | raw } else { raw },
                        len: be16(body, p + 2).unwrap_or(0),
                        enterprise: false,
                    });
                    p += 4;
                }
                (fields, scope_len / 4, end)
            } else {
                let count = be16(body, at + 2).unwrap_or(0) as usize;
                let end = at + 4 + count * 4;
                if end > body.len() {
                    return Err(DecodeError::Malformed("v9: template runs past its flowset"));
                }
                let fields = (0..count)
                    .map(|i| Field {
                        id: be16(body, at + 4 + i * 4).unwrap_or(0),
                        len: be16(body, at + 6 + i * 4).unwrap_or(0),
                        enterprise: false,
                    })
                    .collect();
                (fields, 0, end)
            };
            self.learn(
                exporter,
                domain,
                id,
                Template {
                    fields,
                    scope_fields,
                    options,
                },
            );
            at = if options { (next + 3) & !3 } else { next };
        }
        Ok(())
    }

    fn templates_ipfix(
        &mut self,
        exporter: IpAddr,
        domain: u32,
        body: &[u8],
        options: bool,
    ) -> Result<(), DecodeError> {
        let mut at = 0;
        while at + 4 <= body.len() {
            let id = be16(body, at).unwrap_or(0);
            let count = be16(body, at + 2).unwrap_or(0) as usize;
            if id < 256 {
                break;
            }
            let (scope_fields, mut p) = if options {
                (be16(body, at + 4).unwrap_or(0) as usize, at + 6)
            } else {
                (0, at + 4)
            };
            let mut fields = Vec::with_capacity(count);
            for _ in 0..count {
                let raw = be16(body, p)
                    .ok_or(DecodeError::Malformed("IPFIX: template runs past its set"))?;
                let len = be16(body, p + 2)
                    .ok_or(DecodeError::Malformed("IPFIX: template runs past its set"))?;
                let enterprise = raw & 0x8000 != 0;
                p += 4;
                if enterprise {
                    p += 4;
                }
                fields.push(Field {
                    id: raw & 0x7fff,
                    len,
                    enterprise,
                });
            }
            if p > body.len() {
                return Err(DecodeError::Malformed("IPFIX: template runs past its set"));
            }
            self.learn(
                exporter,
                domain,
                id,
                Template {
                    fields,
                    scope_fields,
                    options,
                },
            );
            at = p;
        }
        Ok(())
    }

    fn learn(&mut self, exporter: IpAddr, domain: u32, id: u16, template: Template) {
        self.stats.templates += 1;
        let key = (exporter, domain, id);
        self.templates.insert(key, template);
        if let Some(held) = self.pending.remove(&key) {
            if let Some(n) = self.pending_count.get_mut(&exporter) {
                *n = n.saturating_sub(held.len());
            }
            // The caller's `out` is not at hand here: `decode` hands these
            // out at its end.
            for p in held {
                let mut out = Vec::new();
                self.decode_set(
                    exporter,
                    domain,
                    id,
                    &p.bytes,
                    p.version,
                    p.export_secs,
                    p.uptime_ms,
                    &mut out,
                );
                self.late.extend(out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn data(
        &mut self,
        exporter: IpAddr,
        domain: u32,
        id: u16,
        body: &[u8],
        version: u16,
        export_secs: u32,
        uptime_ms: u32,
        now_ms: i64,
        out: &mut Vec<FlowRecord>,
    ) {
        if self.templates.contains_key(&(exporter, domain, id)) {
            self.decode_set(
                exporter,
                domain,
                id,
                body,
                version,
                export_secs,
                uptime_ms,
                out,
            );
            return;
        }
        let held = self.pending_count.entry(exporter).or_default();
        if *held >= MAX_PENDING_PER_EXPORTER {
            self.stats.dropped_sets += 1;
            return;
        }
        *held += 1;
        self.stats.held += 1;
        self.pending
            .entry((exporter, domain, id))
            .or_default()
            .push(Pending {
                at_ms: now_ms,
                version,
                export_secs,
                uptime_ms,
                bytes: body.to_vec(),
            });
    }

    fn expire_pending(&mut self, now_ms: i64) {
        let mut dropped = 0;
        let counts = &mut self.pending_count;
        self.pending.retain(|key, list| {
            let before = list.len();
            list.retain(|p| now_ms - p.at_ms < PENDING_MS);
            let gone = before - list.len();
            dropped += gone as u64;
            if let Some(n) = counts.get_mut(&key.0) {
                *n = n.saturating_sub(gone);
            }
            !list.is_empty()
        });
        self.stats.dropped_sets += dropped;
    }

    #[allow(clippy::too_many_arguments)]
    fn decode_set(
        &mut self,
        exporter: IpAddr,
        domain: u32,
        id: u16,
        body: &[u8],
        version: u16,
        export_secs: u32,
        uptime_ms: u32,
        out: &mut Vec<FlowRecord>,
    ) {
        let Some(template) = self.templates.get(&(exporter, domain, id)) else {
            return;
        };
        let template = template.clone();
        let min_len: usize = template
            .fields
            .iter()
            .map(|f| if f.len == 65535 { 1 } else { f.len as usize })
            .sum();
        if min_len == 0 {
            return;
        }
        let mut at = 0;
        while at + min_len <= body.len() {
            let mut values: Vec<(u16, bool, &[u8])> = Vec::with_capacity(template.fields.len());
            let mut ok = true;
            for f in &template.fields {
                let len = if f.len == 65535 {
                    // IPFIX variable length: one byte, or 255 then two.
                    let Some(&first) = body.get(at) else {
                        ok = false;
                        break;
                    };
                    at += 1;
                    if first == 255 {
                        let Some(l) = be16(body, at) else {
                            ok = false;
                            break;
                        };
                        at += 2;
                        l as usize
                    } else {
                        first as usize
                    }
                } else {
                    f.len as usize
                };
                let Some(v) = body.get(at..at + len) else {
                    ok = false;
                    break;
                };
                values.push((f.id, f.enterprise, v));
                at += len;
            }
            if !ok {
                break;
            }
            if template.options {
                self.options_record(
                    exporter,
                    domain,
                    &values[template.scope_fields.min(values.len())..],
                );
            } else {
                out.push(self.flow_record(
                    exporter,
                    domain,
                    &values,
                    version,
                    export_secs,
                    uptime_ms,
                ));
            }
        }
    }

    fn options_record(&mut self, exporter: IpAddr, domain: u32, values: &[(u16, bool, &[u8])]) {
        self.stats.options_records += 1;
        let get = |id: u16| {
            values
                .iter()
                .find(|(i, e, _)| *i == id && !*e)
                .map(|(_, _, v)| be_uint(v))
        };
        let rate = match (get(34), get(50), get(305), get(306)) {
            (Some(r), _, _, _) | (None, Some(r), _, _) if r > 0 => Some(r),
            (_, _, Some(interval), space) if interval > 0 => {
                Some((interval + space.unwrap_or(0)) / interval)
            }
            _ => None,
        };
        if let Some(rate) = rate {
            match get(48).or(get(302)) {
                Some(sampler) => {
                    self.samplers.insert((exporter, domain, sampler), rate);
                }
                None => {
                    self.sampling.insert((exporter, domain), rate);
                }
            }
        }
    }

    fn flow_record(
        &self,
        exporter: IpAddr,
        domain: u32,
        values: &[(u16, bool, &[u8])],
        version: u16,
        export_secs: u32,
        uptime_ms: u32,
    ) -> FlowRecord {
        let mut r = FlowRecord {
            exporter,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_port: 0,
            protocol: 0,
            tcp_flags: 0,
            bytes: 0,
            packets: 0,
            in_if: 0,
            out_if: 0,
            start_ms: export_secs as i64 * 1000,
            end_ms: export_secs as i64 * 1000,
            sampling: 1,
            version,
        };
        let export_ms = export_secs as i64 * 1000;
        let mut inline_rate = None;
        let mut sampler = None;
        for &(id, enterprise, v) in values {
            if enterprise {
                continue;
            }
            let n = || be_uint(v);
            match id {
                1 | 85 => r.bytes = n(),
                2 | 86 => r.packets = n(),
                4 => r.protocol = n() as u8,
                6 => r.tcp_flags = n() as u8,
                7 => r.src_port = n() as u16,
                11 => r.dst_port = n() as u16,
                8 | 27 => r.src = ip(v).unwrap_or(r.src),
                12 | 28 => r.dst = ip(v).unwrap_or(r.dst),
                10 => r.in_if = n() as u32,
                14 => r.out_if = n() as u32,
                22 => r.start_ms = export_ms - (uptime_ms as i64 - n() as i64),
                21 => r.end_ms = export_ms - (uptime_ms as i64 - n() as i64),
                150 => r.start_ms = n() as i64 * 1000,
                151 => r.end_ms = n() as i64 * 1000,
                152 => r.start_ms = n() as i64,
                153 => r.end_ms = n() as i64,
                34 if n() > 0 => inline_rate = Some(n()),
                48 | 302 => sampler = Some(n()),
                _ => {}
            }
        }
        let rate = inline_rate
            .or_else(|| sampler.and_then(|s| self.samplers.get(&(exporter, domain, s)).copied()))
            .or_else(|| self.sampling.get(&(exporter, domain)).copied())
            .or_else(|| self.configured_sampling.get(&exporter).copied())
            .unwrap_or(1)
            .max(1);
        r.bytes *= rate;
        r.packets *= rate;
        r.sampling = rate;
        r
    }
}

fn ip(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        16 => <[u8; 16]>::try_from(v)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}
