//! The receiving side of SNMPv3 informs (RFC 3414's user-based security
//! model with this receiver as the authoritative engine).
//!
//! A v3 trap is sent with the sender's engine id, which the receiver is
//! configured with; an inform is the other way round: the receiver is
//! authoritative, so a sender first discovers its engine id (a Report of
//! `usmStatsUnknownEngineIDs`), then its boots and time (a Report of
//! `usmStatsNotInTimeWindows`), then sends the inform authenticated (and
//! encrypted) with keys localised to the receiver's engine id, and waits
//! for a Response sent the same way, echoing its message id. The `snmp2`
//! crate is a manager's library (it numbers a message like its request),
//! so this module writes the receiver's messages itself.
//!
//! Authentication: HMAC with MD5, SHA-1 (RFC 3414) and SHA-2 (RFC 7860);
//! privacy: AES-128 (RFC 3826). Informs with DES or the longer AES keys
//! are refused with a reason (they are not standardised for USM, and
//! net-snmp's own receiver does not accept them either).

use std::time::Instant;

use aes::cipher::{AsyncStreamCipher, KeyIvInit};
use hmac::{Mac, SimpleHmac};
use sha2::Digest;
use snmp2::AsnReader;

/// `usmStatsNotInTimeWindows.0` and `usmStatsUnknownEngineIDs.0`.
const NOT_IN_TIME_WINDOWS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0];
const UNKNOWN_ENGINE_IDS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0];
const UNKNOWN_USER_NAMES: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0];
const WRONG_DIGESTS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0];
const UNSUPPORTED_SEC_LEVELS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0];

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTETS: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_COUNTER32: u8 = 0x41;
const PDU_INFORM: u8 = 0xA6;
const PDU_RESPONSE: u8 = 0xA2;
const PDU_REPORT: u8 = 0xA8;
const FLAG_AUTH: u8 = 0x01;
const FLAG_PRIV: u8 = 0x02;
/// RFC 3414 3.2 step 7: an authentic message more than this far from the
/// receiver's clock is refused.
const TIME_WINDOW_SECS: i64 = 150;

/// An authentication protocol: its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthHash {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl AuthHash {
    /// The protocol named as in the configuration (`sha256`, `sha`, `md5`...).
    pub fn named(name: &str) -> Option<AuthHash> {
        Some(match name {
            "md5" => AuthHash::Md5,
            "sha" | "sha1" => AuthHash::Sha1,
            "sha224" => AuthHash::Sha224,
            "sha256" => AuthHash::Sha256,
            "sha384" => AuthHash::Sha384,
            "sha512" => AuthHash::Sha512,
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            AuthHash::Md5 => md5::Md5::digest(data).to_vec(),
            AuthHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            AuthHash::Sha224 => sha2::Sha224::digest(data).to_vec(),
            AuthHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            AuthHash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            AuthHash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<D: Digest + hmac::digest::core_api::BlockSizeUser>(
            key: &[u8],
            data: &[u8],
        ) -> Vec<u8> {
            // An HMAC takes a key of any length.
            let mut mac = <SimpleHmac<D> as Mac>::new_from_slice(key).expect("any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            AuthHash::Md5 => run::<md5::Md5>(key, data),
            AuthHash::Sha1 => run::<sha1::Sha1>(key, data),
            AuthHash::Sha224 => run::<sha2::Sha224>(key, data),
            AuthHash::Sha256 => run::<sha2::Sha256>(key, data),
            AuthHash::Sha384 => run::<sha2::Sha384>(key, data),
            AuthHash::Sha512 => run::<sha2::Sha512>(key, data),
        }
    }

    /// Bytes of the HMAC a message carries (RFC 3414, RFC 7860).
    fn truncation(self) -> usize {
        match self {
            AuthHash::Md5 | AuthHash::Sha1 => 12,
            AuthHash::Sha224 => 16,
            AuthHash::Sha256 => 24,
            AuthHash::Sha384 => 32,
            AuthHash::Sha512 => 48,
        }
    }

    /// RFC 3414 A.2: the password stretched to a megabyte and hashed, then
    /// localised to an engine id.
    fn localized_key(self, password: &[u8], engine_id: &[u8]) -> Vec<u8> {
        let mut stretched = Vec::with_capacity(1 << 20);
        if !password.is_empty() {
            while stretched.len() < 1 << 20 {
                let room = (1 << 20) - stretched.len();
                stretched.extend_from_slice(&password[..password.len().min(room)]);
            }
        }
        let ku = self.digest(&stretched);
        self.digest(&[ku.as_slice(), engine_id, ku.as_slice()].concat())
    }
}

/// A user informs are accepted from, with keys localised to our engine.
#[derive(Clone)]
pub struct InformUser {
    name: Vec<u8>,
    hash: Option<AuthHash>,
    auth_key: Vec<u8>,
    /// AES-128's key (authPriv only).
    priv_key: Option<[u8; 16]>,
}

impl InformUser {
    /// `auth`: the hash and password (none: noAuthNoPriv); `privacy`: the
    /// AES-128 password (none: no privacy).
    pub fn new(
        name: &str,
        auth: Option<(AuthHash, &[u8])>,
        privacy: Option<&[u8]>,
        engine_id: &[u8],
    ) -> InformUser {
        let (hash, auth_key, priv_key) = match auth {
            Some((hash, password)) => {
                let priv_key = privacy.map(|p| {
                    let key = hash.localized_key(p, engine_id);
                    let mut k = [0u8; 16];
                    k.copy_from_slice(&key[..16]);
                    k
                });
                (
                    Some(hash),
                    hash.localized_key(password, engine_id),
                    priv_key,
                )
            }
            None => (None, Vec::new(), None),
        };
        InformUser {
            name: name.as_bytes().to_vec(),
            hash,
            auth_key,
            priv_key,
        }
    }

    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// This receiver as an SNMP engine: its id, boots and clock.
pub struct Engine {
    id: Vec<u8>,
    boots: i64,
    started: Instant,
    users: Vec<InformUser>,
}

/// What a v3 message addressed to this engine asks for.
#[derive(Debug)]
pub enum Handled {
    /// Not for this engine (a trap under the sender's engine id, or not v3).
    NotOurs,
    /// Answer with this (a discovery or time report) and nothing more.
    Report(Vec<u8>),
    /// An inform: answer with `reply`; `pdu` is the inform wrapped as a
    /// v2c message of community `user`, for the trap decoder.
    Inform {
        reply: Vec<u8>,
        pdu: Vec<u8>,
        user: String,
    },
    /// Refused (unknown user, wrong digest, undecryptable), with why; the
    /// reply, if any, is the Report the standard sends back.
    Refused { why: String, reply: Option<Vec<u8>> },
}

/// The parts of a v3 message this engine needs.
struct Message<'a> {
    msg_id: i64,
    flags: u8,
    engine_id: &'a [u8],
    boots: i64,
    time: i64,
    user: &'a [u8],
    auth_params: &'a [u8],
    priv_params: &'a [u8],
    /// The scoped PDU in clear, or encrypted.
    data: &'a [u8],
    encrypted: bool,
}

impl Engine {
    /// `boots` must grow at every start (the receiver uses the start time in
    /// seconds), so a sender's cached clock from a previous run is refused
    /// and resynchronised rather than trusted.
    pub fn new(id: Vec<u8>, boots: i64, users: Vec<InformUser>) -> Engine {
        Engine {
            id,
            boots,
            started: Instant::now(),
            users,
        }
    }

    pub fn id(&self) -> &[u8] {
        &self.id
    }

    fn time(&self) -> i64 {
        self.started.elapsed().as_secs() as i64
    }

    /// Handles a message; [`Handled::NotOurs`] for anything that is not a
    /// v3 message to this engine (or its discovery).
    pub fn handle(&self, bytes: &[u8]) -> Handled {
        let Some(m) = parse(bytes) else {
            return Handled::NotOurs;
        };
        if m.engine_id.is_empty() {
            // Discovery (RFC 3414 4): our id, boots and time, unauthenticated.
            let request_id = if m.encrypted { 0 } else { request_id(m.data) };
            return Handled::Report(self.report(&m, UNKNOWN_ENGINE_IDS, request_id, None));
        }
        if m.engine_id != self.id.as_slice() {
            return Handled::NotOurs;
        }
        let Some(user) = self.users.iter().find(|u| u.name == m.user) else {
            return Handled::Refused {
                why: format!("unknown SNMPv3 user {:?}", String::from_utf8_lossy(m.user)),
                reply: Some(self.report(&m, UNKNOWN_USER_NAMES, 0, None)),
            };
        };
        let below = (user.hash.is_some() && m.flags & FLAG_AUTH == 0)
            || (user.priv_key.is_some() && !m.encrypted);
        if below {
            // A user configured for authPriv is not heard at a lower level.
            return Handled::Refused {
                why: format!("user {}: below its security level", user.name()),
                reply: Some(self.report(&m, UNSUPPORTED_SEC_LEVELS, 0, None)),
            };
        }
        match self.verify(bytes, &m, user) {
            Ok(()) => {}
            Err(refused) => return refused,
        }
        let scoped = match self.open(&m, user) {
            Ok(s) => s,
            Err(why) => return Handled::Refused { why, reply: None },
        };
        self.answer_inform(&m, user, &scoped)
    }

    /// Checks the digest and the time window of an authenticated message.
    fn verify(&self, bytes: &[u8], m: &Message<'_>, user: &InformUser) -> Result<(), Handled> {
        let Some(hash) = user.hash else {
            return Ok(());
        };
        if m.auth_params.len() != hash.truncation() {
            return Err(Handled::Refused {
                why: format!("user {}: the message is not authenticated", user.name()),
                reply: None,
            });
        }
        let at = m.auth_params.as_ptr() as usize - bytes.as_ptr() as usize;
        let mut zeroed = bytes.to_vec();
        zeroed[at..at + m.auth_params.len()].fill(0);
        let mac = hash.hmac(&user.auth_key, &zeroed);
        if mac[..hash.truncation()] != *m.auth_params {
            return Err(Handled::Refused {
                why: format!(
                    "user {}: wrong digest (authentication password?)",
                    user.name()
                ),
                reply: Some(self.report(m, WRONG_DIGESTS, 0, None)),
            });
        }
        if m.boots != self.boots || (m.time - self.time()).abs() > TIME_WINDOW_SECS {
            return Err(Handled::Report(self.report(
                m,
                NOT_IN_TIME_WINDOWS,
                0,
                Some(user),
            )));
        }
        Ok(())
    }

    /// The scoped PDU in clear.
    fn open(&self, m: &Message<'_>, user: &InformUser) -> Result<Vec<u8>, String> {
        if !m.encrypted {
            return Ok(m.data.to_vec());
        }
        let Some(key) = user.priv_key else {
            return Err(format!(
                "user {}: encrypted, but no privacy configured",
                user.name()
            ));
        };
        if m.priv_params.len() != 8 {
            return Err(format!(
                "user {}: privacy parameters are not an AES salt",
                user.name()
            ));
        }
        let mut clear = m.data.to_vec();
        let iv = aes_iv(m.boots, m.time, m.priv_params);
        cfb_mode::Decryptor::<aes::Aes128>::new(&key.into(), &iv.into()).decrypt(&mut clear);
        Ok(clear)
    }

    fn answer_inform(&self, m: &Message<'_>, user: &InformUser, scoped: &[u8]) -> Handled {
        let Some(Scoped {
            context_engine,
            context_name,
            pdu,
        }) = scoped_parts(scoped)
        else {
            return Handled::Refused {
                why: format!(
                    "user {}: undecodable scoped PDU (privacy password?)",
                    user.name()
                ),
                reply: None,
            };
        };
        if pdu.first() != Some(&PDU_INFORM) {
            return Handled::Refused {
                why: format!("user {}: a v3 request that is not an inform", user.name()),
                reply: None,
            };
        }
        let mut response = pdu.to_vec();
        response[0] = PDU_RESPONSE;
        // A response names the request's context (RFC 3413 3.2).
        let context = (context_engine, context_name);
        let reply = self.message(m.msg_id, user, Some(user), context, &response);
        // The same PDU in a v2c envelope, for the trap decoder.
        let pdu = tlv(
            TAG_SEQUENCE,
            &[integer(1), tlv(TAG_OCTETS, &user.name), pdu.to_vec()].concat(),
        );
        Handled::Inform {
            reply,
            pdu,
            user: user.name(),
        }
    }

    /// A Report of one usmStats counter (its value 1: we do not keep them).
    fn report(
        &self,
        m: &Message<'_>,
        oid: &[u32],
        request_id: i64,
        auth: Option<&InformUser>,
    ) -> Vec<u8> {
        let varbind = tlv(
            TAG_SEQUENCE,
            &[tlv(TAG_OID, &oid_bytes(oid)), tlv(TAG_COUNTER32, &[1])].concat(),
        );
        let pdu = tlv(
            PDU_REPORT,
            &[
                integer(request_id),
                integer(0),
                integer(0),
                tlv(TAG_SEQUENCE, &varbind),
            ]
            .concat(),
        );
        let anonymous = InformUser {
            name: m.user.to_vec(),
            hash: None,
            auth_key: Vec::new(),
            priv_key: None,
        };
        // A time report is authenticated (the sender trusts our clock only
        // then) but never encrypted.
        let signer = auth.map(|u| InformUser {
            priv_key: None,
            ..u.clone()
        });
        let user = signer.as_ref().unwrap_or(&anonymous);
        self.message(m.msg_id, user, signer.as_ref(), (&self.id, b""), &pdu)
    }

    /// A whole message from this engine: header, security parameters,
    /// the scoped PDU (encrypted when the user has privacy), the digest.
    fn message(
        &self,
        msg_id: i64,
        user: &InformUser,
        signer: Option<&InformUser>,
        (context_engine, context_name): (&[u8], &[u8]),
        pdu: &[u8],
    ) -> Vec<u8> {
        let (boots, time) = (self.boots, self.time());
        let hash = signer.and_then(|s| s.hash);
        let mut flags = 0u8;
        let scoped = tlv(
            TAG_SEQUENCE,
            &[
                tlv(TAG_OCTETS, context_engine),
                tlv(TAG_OCTETS, context_name),
                pdu.to_vec(),
            ]
            .concat(),
        );
        let (data, salt) = match (hash, user.priv_key) {
            (Some(_), Some(key)) => {
                flags |= FLAG_PRIV;
                let salt: [u8; 8] = rand::random();
                let mut sealed = scoped;
                let iv = aes_iv(boots, time, &salt);
                cfb_mode::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into())
                    .encrypt(&mut sealed);
                (tlv(TAG_OCTETS, &sealed), salt.to_vec())
            }
            _ => (scoped, Vec::new()),
        };
        let auth_len = hash.map_or(0, AuthHash::truncation);
        if hash.is_some() {
            flags |= FLAG_AUTH;
        }
        let security = tlv(
            TAG_SEQUENCE,
            &[
                tlv(TAG_OCTETS, &self.id),
                integer(boots),
                integer(time),
                tlv(TAG_OCTETS, &user.name),
                tlv(TAG_OCTETS, &vec![0u8; auth_len]),
                tlv(TAG_OCTETS, &salt),
            ]
            .concat(),
        );
        let global = tlv(
            TAG_SEQUENCE,
            &[
                integer(msg_id),
                integer(65_507),
                tlv(TAG_OCTETS, &[flags]),
                integer(3),
            ]
            .concat(),
        );
        let mut whole = tlv(
            TAG_SEQUENCE,
            &[integer(3), global, tlv(TAG_OCTETS, &security), data].concat(),
        );
        if let (Some(hash), Some(signer)) = (hash, signer) {
            let mac = hash.hmac(&signer.auth_key, &whole);
            // The zeroed authentication parameters are the only run of
            // `auth_len` zeros right after their header in the security
            // parameters, which end just before the data.
            let at = auth_params_offset(&whole, auth_len).expect("just written");
            whole[at..at + auth_len].copy_from_slice(&mac[..auth_len]);
        }
        whole
    }
}

/// RFC 3826 3.1.2.1: boots, time (as the authoritative engine sent them)
/// and the salt.
fn aes_iv(boots: i64, time: i64, salt: &[u8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&(boots as u32).to_be_bytes());
    iv[4..8].copy_from_slice(&(time as u32).to_be_bytes());
    iv[8..].copy_from_slice(&salt[..8]);
    iv
}

fn parse(bytes: &[u8]) -> Option<Message<'_>> {
    let mut outer =
        AsnReader::from_bytes(AsnReader::from_bytes(bytes).read_raw(TAG_SEQUENCE).ok()?);
    if outer.read_asn_integer().ok()? != 3 {
        return None;
    }
    let mut global = AsnReader::from_bytes(outer.read_raw(TAG_SEQUENCE).ok()?);
    let msg_id = global.read_asn_integer().ok()?;
    let _max_size = global.read_asn_integer().ok()?;
    let flags = *global.read_asn_octetstring().ok()?.first()?;
    if global.read_asn_integer().ok()? != 3 {
        return None; // not the user-based security model
    }
    let params = outer.read_asn_octetstring().ok()?;
    let mut sec = AsnReader::from_bytes(AsnReader::from_bytes(params).read_raw(TAG_SEQUENCE).ok()?);
    let engine_id = sec.read_asn_octetstring().ok()?;
    let boots = sec.read_asn_integer().ok()?;
    let time = sec.read_asn_integer().ok()?;
    let user = sec.read_asn_octetstring().ok()?;
    let auth_params = sec.read_asn_octetstring().ok()?;
    let priv_params = sec.read_asn_octetstring().ok()?;
    let encrypted = outer.peek_byte().ok()? == TAG_OCTETS;
    let data = if encrypted {
        outer.read_asn_octetstring().ok()?
    } else {
        let rest = outer.read_raw(TAG_SEQUENCE).ok()?;
        // The whole scoped PDU, header included (it is what we decode
        // later): from the end of the security parameters to its end.
        let start = params.as_ptr() as usize + params.len() - bytes.as_ptr() as usize;
        let end = rest.as_ptr() as usize + rest.len() - bytes.as_ptr() as usize;
        &bytes[start..end]
    };
    Some(Message {
        msg_id,
        flags,
        engine_id,
        boots,
        time,
        user,
        auth_params,
        priv_params,
        data,
        encrypted,
    })
}

/// The context (engine id and name) and the PDU (with its header) of a
/// scoped PDU.
struct Scoped<'a> {
    context_engine: &'a [u8],
    context_name: &'a [u8],
    pdu: &'a [u8],
}

fn scoped_parts(scoped: &[u8]) -> Option<Scoped<'_>> {
    let body = AsnReader::from_bytes(scoped).read_raw(TAG_SEQUENCE).ok()?;
    let mut rdr = AsnReader::from_bytes(body);
    let context_engine = rdr.read_asn_octetstring().ok()?;
    let context_name = rdr.read_asn_octetstring().ok()?;
    // The PDU is what is left of the body.
    let consumed = context_name.as_ptr() as usize + context_name.len() - body.as_ptr() as usize;
    let pdu = &body[consumed..];
    let tag = *pdu.first()?;
    let inner = AsnReader::from_bytes(pdu).read_raw(tag).ok()?;
    let end = inner.as_ptr() as usize + inner.len() - pdu.as_ptr() as usize;
    Some(Scoped {
        context_engine,
        context_name,
        pdu: &pdu[..end],
    })
}

/// The request id of a clear scoped PDU (0 when unreadable).
fn request_id(scoped: &[u8]) -> i64 {
    scoped_parts(scoped)
        .and_then(|Scoped { pdu, .. }| {
            let tag = *pdu.first()?;
            let mut rdr = AsnReader::from_bytes(AsnReader::from_bytes(pdu).read_raw(tag).ok()?);
            rdr.read_asn_integer().ok()
        })
        .unwrap_or(0)
}

/// Where the (zeroed) authentication parameters of a message we wrote are.
fn auth_params_offset(message: &[u8], auth_len: usize) -> Option<usize> {
    let m = parse(message)?;
    (m.auth_params.len() == auth_len)
        .then(|| m.auth_params.as_ptr() as usize - message.as_ptr() as usize)
}

fn length_bytes(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(tag);
    out.extend(length_bytes(body.len()));
    out.extend_from_slice(body);
    out
}

/// A BER INTEGER: two's complement, shortest form.
fn integer(n: i64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xFF && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    tlv(TAG_INTEGER, &bytes[start..])
}

fn oid_bytes(oid: &[u32]) -> Vec<u8> {
    let mut out = vec![(oid[0] * 40 + oid[1]) as u8];
    for &arc in &oid[2..] {
        let mut chunk = vec![(arc & 0x7F) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7F) as u8);
            rest >>= 7;
        }
        out.extend(chunk.into_iter().rev());
    }
    out
}

/// An engine id for this receiver when none is configured: RFC 3411's
/// "administratively assigned" format (5) under net-snmp's enterprise
/// number, followed by `seed` (the host name, say).
pub fn default_engine_id(seed: &str) -> Vec<u8> {
    let mut id = vec![0x80, 0x00, 0x1F, 0x88, 0x05];
    let digest = sha2::Sha256::digest(format!("watchfloor {seed}").as_bytes());
    id.extend_from_slice(&digest[..8]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3414 A.3.1/A.3.2: the password "maplesyrup" localised to engine
    /// 000000000000000000000002.
    #[test]
    fn keys_localise_as_the_rfc_says() {
        let engine = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&AuthHash::Md5.localized_key(b"maplesyrup", &engine)),
            "526f5eed9fcce26f8964c2930787d82b"
        );
        assert_eq!(
            hex(&AuthHash::Sha1.localized_key(b"maplesyrup", &engine)),
            "6695febc9288e36282235fc7151f128497b38f3f"
        );
    }

    #[test]
    fn integers_and_lengths_encode_shortest() {
        assert_eq!(integer(0), vec![2, 1, 0]);
        assert_eq!(integer(128), vec![2, 2, 0, 128]);
        assert_eq!(integer(-1), vec![2, 1, 0xFF]);
        assert_eq!(tlv(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(
            oid_bytes(&[1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0]),
            vec![43, 6, 1, 6, 3, 15, 1, 1, 4, 0]
        );
    }

    fn engine() -> Engine {
        let id = default_engine_id("test");
        let user = InformUser::new(
            "wf",
            Some((AuthHash::Sha256, b"authpass1")),
            Some(b"privpass1"),
            &id,
        );
        Engine::new(id, 7, vec![user])
    }

    /// A message as a sender would write it: our own writer, playing the
    /// sender (the end-to-end test plays it with net-snmp's snmpinform).
    fn sent(e: &Engine, user: &InformUser, boots: i64, pdu: &[u8]) -> Vec<u8> {
        let sender = Engine {
            id: e.id.clone(),
            boots,
            started: e.started,
            users: Vec::new(),
        };
        sender.message(99, user, Some(user), (&e.id, b""), pdu)
    }

    #[test]
    fn an_inform_is_answered_with_its_message_id_and_a_verifiable_response() {
        let e = engine();
        let user = e.users[0].clone();
        let inform = tlv(
            PDU_INFORM,
            &[integer(5), integer(0), integer(0), tlv(TAG_SEQUENCE, &[])].concat(),
        );
        let Handled::Inform {
            reply,
            pdu,
            user: name,
        } = e.handle(&sent(&e, &user, 7, &inform))
        else {
            panic!("not taken as an inform");
        };
        assert_eq!(name, "wf");
        let wrapped = snmp2::Pdu::from_bytes(&pdu).unwrap();
        assert_eq!(wrapped.message_type, snmp2::MessageType::InformRequest);
        assert_eq!(wrapped.req_id, 5);
        let m = parse(&reply).unwrap();
        assert_eq!(
            (m.msg_id, m.flags, m.encrypted),
            (99, FLAG_AUTH | FLAG_PRIV, true)
        );
        // Our own check accepts our reply (digest and time), and it decrypts
        // to a Response to request 5.
        let Handled::Refused { why, .. } = e.handle(&reply) else {
            panic!("a response is not an inform");
        };
        assert!(why.contains("not an inform"), "{why}");
    }

    proptest::proptest! {
        /// Damaged messages (one byte changed, cut short) and noise get an
        /// answer or a refusal, never a panic.
        #[test]
        fn damaged_messages_never_panic(at in 0usize..400, byte in 0u8..=255, cut in 0usize..400, noise in proptest::collection::vec(0u8..=255, 0..300)) {
            let e = engine();
            let user = e.users[0].clone();
            let inform = tlv(PDU_INFORM, &[integer(5), integer(0), integer(0), tlv(TAG_SEQUENCE, &[])].concat());
            let mut m = sent(&e, &user, 7, &inform);
            let i = at % m.len();
            m[i] = byte;
            let _ = e.handle(&m);
            let _ = e.handle(&m[..cut.min(m.len())]);
            let _ = e.handle(&noise);
        }
    }

    #[test]
    fn discovery_stale_clocks_and_wrong_passwords_get_their_reports() {
        let e = engine();
        let discovery = tlv(
            TAG_SEQUENCE,
            &[
                integer(3),
                tlv(
                    TAG_SEQUENCE,
                    &[
                        integer(1),
                        integer(65_507),
                        tlv(TAG_OCTETS, &[4]),
                        integer(3),
                    ]
                    .concat(),
                ),
                tlv(
                    TAG_OCTETS,
                    &tlv(
                        TAG_SEQUENCE,
                        &[
                            tlv(TAG_OCTETS, b""),
                            integer(0),
                            integer(0),
                            tlv(TAG_OCTETS, b""),
                            tlv(TAG_OCTETS, b""),
                            tlv(TAG_OCTETS, b""),
                        ]
                        .concat(),
                    ),
                ),
                tlv(
                    TAG_SEQUENCE,
                    &[
                        tlv(TAG_OCTETS, b""),
                        tlv(TAG_OCTETS, b""),
                        tlv(
                            0xA0,
                            &[integer(42), integer(0), integer(0), tlv(TAG_SEQUENCE, &[])].concat(),
                        ),
                    ]
                    .concat(),
                ),
            ]
            .concat(),
        );
        let Handled::Report(r) = e.handle(&discovery) else {
            panic!("no discovery report")
        };
        let m = parse(&r).unwrap();
        assert_eq!((m.engine_id, m.boots, m.msg_id), (e.id(), 7, 1));
        assert_eq!(request_id(m.data), 42);

        let user = e.users[0].clone();
        let inform = tlv(
            PDU_INFORM,
            &[integer(5), integer(0), integer(0), tlv(TAG_SEQUENCE, &[])].concat(),
        );
        let Handled::Report(r) = e.handle(&sent(&e, &user, 6, &inform)) else {
            panic!("a stale boots count is not reported")
        };
        assert_eq!(
            parse(&r).unwrap().flags,
            FLAG_AUTH,
            "time reports are authenticated"
        );

        let impostor = InformUser::new(
            "wf",
            Some((AuthHash::Sha256, b"guessed12")),
            Some(b"privpass1"),
            e.id(),
        );
        let Handled::Refused { why, .. } = e.handle(&sent(&e, &impostor, 7, &inform)) else {
            panic!("a wrong password is not refused")
        };
        assert!(why.contains("wrong digest"), "{why}");
        let no_privacy = InformUser {
            priv_key: None,
            ..user.clone()
        };
        let Handled::Refused { why, .. } = e.handle(&sent(&e, &no_privacy, 7, &inform)) else {
            panic!("authNoPriv from an authPriv user is not refused")
        };
        assert!(why.contains("below its security level"), "{why}");
        assert!(matches!(
            e.handle(b"\x30\x03\x02\x01\x01"),
            Handled::NotOurs
        ));
        assert!(matches!(e.handle(&[0xFF; 40]), Handled::NotOurs));
    }
}
