//! The SNMP trap and inform receiver of `serve`: every trap becomes an
//! event in the log (source `snmptrap`), informs are acknowledged, and
//! link traps raise operations alerts on the device's topology node (the
//! node named like the polled target the trap came from, else its
//! address), so they join the node's incident.

use std::net::{IpAddr, SocketAddr};

use serde_json::json;
use tokio::net::UdpSocket;
use watchfloor_model::{now_ns, Alert, AlertKind, Domain, Severity};
use watchfloor_telemetry::snmp::{
    decode_trap, decode_v3_inform, inform_response, Trap, TrapSecurity,
};
use watchfloor_telemetry::usm::{Engine, Handled};

use crate::api::Shared;
use crate::config::Config;
use crate::ServerError;

/// Binds the receiver (when `[telemetry.traps] listen` is set) and runs it.
pub async fn spawn(app: Shared, cfg: &Config) -> Result<Option<SocketAddr>, ServerError> {
    let traps = &cfg.telemetry.traps;
    if traps.listen.is_empty() {
        return Ok(None);
    }
    let socket = UdpSocket::bind(&traps.listen)
        .await
        .map_err(|e| crate::start_err(format!("snmp traps {}", traps.listen))(&e))?;
    let local = socket.local_addr().ok();
    let mut users = Vec::new();
    for u in &traps.users {
        users.push(
            u.security()
                .map_err(|e| crate::start_err("snmp trap users")(&e))?,
        );
    }
    let engine = inform_engine(cfg).map_err(|e| crate::start_err("snmp traps")(&e))?;
    let communities = traps.communities.clone();
    let tenant = traps.tenant.clone().unwrap_or_else(|| cfg.tenant.clone());
    let names = device_names(cfg);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let bytes = &buf[..n];
            let decoded = receive(&socket, peer, bytes, &engine, &communities, &mut users).await;
            match decoded {
                Ok(Some(trap)) => record(&app, &tenant, &names, peer.ip(), trap).await,
                Ok(None) => {}
                Err(e) => {
                    app.ingest.reject("snmptrap", "malformed");
                    tracing::warn!(%peer, error = %e, "snmp trap refused");
                }
            }
        }
    });
    Ok(local)
}

/// A datagram as a trap to file (none for a v3 discovery or clock
/// Report), after sending what its sender waits for: an inform's Response,
/// a Report, the Report of a refusal.
async fn receive(
    socket: &UdpSocket,
    peer: SocketAddr,
    bytes: &[u8],
    engine: &Engine,
    communities: &[String],
    users: &mut [TrapSecurity],
) -> Result<Option<Trap>, String> {
    let (reply, trap) = match engine.handle(bytes) {
        Handled::NotOurs => {
            let trap = decode_trap(bytes, communities, users)?;
            let reply = trap.inform.then(|| inform_response(bytes)).flatten();
            (reply, Some(trap))
        }
        Handled::Report(reply) => (Some(reply), None),
        Handled::Inform { reply, pdu, user } => (Some(reply), Some(decode_v3_inform(&pdu, &user)?)),
        Handled::Refused { why, reply } => {
            if let Some(reply) = reply {
                let _ = socket.send_to(&reply, peer).await;
            }
            return Err(why);
        }
    };
    if let Some(reply) = reply {
        let _ = socket.send_to(&reply, peer).await;
    }
    Ok(trap)
}

/// The receiver as the SNMPv3 engine inform senders address: its id
/// (configured or made from the host name), its boots count (kept in the
/// data directory, one more at every start) and the users keyed to it.
fn inform_engine(cfg: &Config) -> Result<Engine, String> {
    let traps = &cfg.telemetry.traps;
    let host = hostname();
    let id = traps.engine_id(&host)?;
    let boots_file = cfg.data_dir.join("snmp-engine-boots");
    let boots = std::fs::read_to_string(&boots_file)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .saturating_add(1)
        .min(i64::from(i32::MAX));
    std::fs::write(&boots_file, boots.to_string())
        .map_err(|e| format!("{}: {e}", boots_file.display()))?;
    let users = traps
        .users
        .iter()
        .map(|u| u.inform_user(&id))
        .collect::<Result<Vec<_>, _>>()?;
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    tracing::info!(engine_id = %hex, boots, "SNMPv3 inform receiver engine");
    Ok(Engine::new(id, boots, users))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "watchfloor".into())
}

/// Polled devices by address: the name the topology knows them by.
fn device_names(cfg: &Config) -> Vec<(IpAddr, String)> {
    let mut out = Vec::new();
    for job in &cfg.telemetry.snmp {
        for target in &job.targets {
            let host = target
                .rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map_or(target.as_str(), |(h, _)| h);
            let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host, 161))
                    .map(|a| a.map(|s| s.ip()).collect())
                    .unwrap_or_default(),
            };
            out.extend(addrs.into_iter().map(|ip| (ip, host.to_string())));
        }
    }
    out
}

async fn record(app: &Shared, tenant: &str, names: &[(IpAddr, String)], from: IpAddr, trap: Trap) {
    let host = names
        .iter()
        .find(|(ip, _)| *ip == from)
        .map_or_else(|| from.to_string(), |(_, n)| n.clone());
    let node = app
        .monitoring
        .topology_of(tenant)
        .nodes
        .iter()
        .find(|n| n.name.eq_ignore_ascii_case(&host))
        .map(|n| n.name.clone());
    let what = trap
        .trap_name
        .clone()
        .unwrap_or_else(|| trap.trap_oid.clone());
    let interface = match (&trap.if_name, trap.if_index) {
        (Some(n), _) if !n.is_empty() => format!(" {n}"),
        (_, Some(i)) => format!(" ifIndex {i}"),
        _ => String::new(),
    };
    let message = format!("SNMP trap {what} from {host}{interface}");
    let varbinds: Vec<String> = trap
        .varbinds
        .iter()
        .map(|(o, v)| format!("{o} = {v}"))
        .collect();
    let mut event = json!({
        "message": message,
        "host": {"name": host},
        "source": {"ip": from.to_string()},
        "event": {"module": "snmp", "kind": "event", "category": ["network"], "action": what},
        "snmp": {
            "version": trap.version, "principal": trap.principal, "inform": trap.inform,
            "trap_oid": trap.trap_oid, "trap_name": trap.trap_name, "uptime_ticks": trap.uptime_ticks,
            "varbinds": varbinds,
        },
    });
    if trap.if_index.is_some() || trap.if_name.is_some() {
        event["interface"] = json!({"index": trap.if_index, "name": trap.if_name});
    }
    let record = watchfloor_ingest::RawRecord {
        received_ns: now_ns(),
        kind: watchfloor_ingest::Kind::Json,
        source: "snmptrap".into(),
        tenant: tenant.into(),
        peer: from.to_string().into(),
        truncated: false,
        body: event.to_string().into_bytes(),
    };
    if let Err(e) = app.appender.append(vec![record]).await {
        tracing::error!(error = %e, "writing an SNMP trap to the log");
    }
    if let Some(alert) = link_alert(tenant, &host, node, from, &trap, &message) {
        let state = app.state.clone();
        let _ = tokio::task::spawn_blocking(move || state.insert_alerts(&[alert])).await;
    }
}

/// linkDown raises a high alert; linkUp an informational one (the
/// recovery lands on the same incident); restarts a low one.
fn link_alert(
    tenant: &str,
    host: &str,
    node: Option<String>,
    from: IpAddr,
    trap: &Trap,
    message: &str,
) -> Option<Alert> {
    let name = trap.trap_name.as_deref()?;
    let level = match name {
        "linkDown" => Severity::High,
        "linkUp" => Severity::Informational,
        "coldStart" | "warmStart" => Severity::Low,
        _ => return None,
    };
    let at = now_ns();
    let mut fields = serde_json::Map::new();
    fields.insert("snmp.trap_oid".into(), json!(trap.trap_oid));
    if let Some(i) = trap.if_index {
        fields.insert("interface.index".into(), json!(i));
    }
    if let Some(n) = &trap.if_name {
        fields.insert("interface.name".into(), json!(n));
    }
    if let Some(n) = &node {
        fields.insert("topology_node".into(), json!(n));
    }
    Some(Alert {
        id: 0,
        key: format!(
            "trap:{tenant}:{from}:{name}:{}:{at}",
            trap.if_index.unwrap_or(0)
        ),
        tenant: tenant.to_string(),
        domain: Domain::Operations,
        rule_id: Some(format!("trap:{name}")),
        rule_title: message.to_string(),
        kind: AlertKind::Trap,
        level,
        tags: vec![format!("snmp.{name}")],
        time_ns: at,
        created_ns: at,
        host: Some(node.unwrap_or_else(|| host.to_string())),
        user: None,
        users: Vec::new(),
        ips: vec![from.to_string()],
        indicators: Default::default(),
        event_ids: Vec::new(),
        fields,
        value: None,
        parent: None,
        incident_id: None,
    })
}
