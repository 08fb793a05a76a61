//! `command.run`: an allow-listed program, without a shell. The step names
//! the command; the program and its fixed arguments come from
//! `[[respond.commands]]`; the step's `args` are appended only where the
//! command allows it. The run's idempotency key is in the environment
//! (`WATCHFLOOR_IDEMPOTENCY_KEY`) for scripts that must not act twice.

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{show, string, strings, Call};
use crate::config::RespondConfig;

/// Output kept in the run's log at most, per stream.
const OUTPUT_LIMIT: usize = 16 * 1024;

pub async fn run(config: &RespondConfig, input: &Value, call: &Call<'_>) -> Result<Value, String> {
    let name = string(input, "command")?;
    let allowed = config
        .commands
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("command {name:?} is not in [[respond.commands]]"))?;
    let args = strings(input, "args")?;
    if !args.is_empty() && !allowed.allow_args {
        return Err(format!(
            "command {name:?} takes no arguments from playbooks"
        ));
    }
    let (program, fixed) = allowed
        .argv
        .split_first()
        .ok_or_else(|| format!("command {name:?} names no program"))?;
    let stdin = input.get("stdin").map(show);
    let mut child = super::command(program)
        .args(fixed)
        .args(&args)
        .env("WATCHFLOOR_IDEMPOTENCY_KEY", call.key)
        .env("WATCHFLOOR_RUN", call.run_id.to_string())
        .env("WATCHFLOOR_TENANT", call.tenant)
        .env(
            "WATCHFLOOR_INCIDENT",
            call.incident_id.map(|i| i.to_string()).unwrap_or_default(),
        )
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .await
            .map_err(|e| format!("{program}: writing stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("{program}: {e}"))?;
    let text = |b: &[u8]| -> String {
        String::from_utf8_lossy(b)
            .chars()
            .take(OUTPUT_LIMIT)
            .collect()
    };
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if !out.status.success() {
        return Err(format!(
            "{name} exited with {}: {}",
            out.status,
            stderr.trim()
        ));
    }
    Ok(json!({"exit": out.status.code(), "stdout": stdout, "stderr": stderr}))
}
