//! Which status and phase changes are allowed, and why not when not.

use watchfloor_model::incident::{Domain, Incident, Phase, Status};

/// The statuses an incident may move to from `from` (ITIL incident states:
/// a resolved incident can be reopened until it is closed; closed is final).
pub fn next_statuses(from: Status) -> &'static [Status] {
    use Status::*;
    match from {
        New => &[Acknowledged, InProgress, OnHold, Resolved],
        Acknowledged => &[InProgress, OnHold, Resolved],
        InProgress => &[OnHold, Resolved],
        OnHold => &[InProgress, Resolved],
        Resolved => &[InProgress, Closed],
        Closed => &[],
    }
}

/// Checks a status change; the error says why it is refused.
pub fn check_status(incident: &Incident, to: Status) -> Result<(), String> {
    let from = incident.status;
    if from == to {
        return Err(format!("the incident is already {}", to.as_str()));
    }
    if from == Status::Closed {
        return Err("a closed incident cannot change; open a new one".into());
    }
    if !next_statuses(from).contains(&to) {
        let allowed: Vec<&str> = next_statuses(from).iter().map(|s| s.as_str()).collect();
        return Err(format!(
            "{} cannot move to {}; allowed: {}",
            from.as_str(),
            to.as_str(),
            allowed.join(", ")
        ));
    }
    if to == Status::Closed
        && incident.domain != Domain::Operations
        && incident.phase != Some(Phase::PostIncident)
    {
        return Err(
            "a security incident is closed after its post-incident review (phase post_incident)"
                .into(),
        );
    }
    Ok(())
}

/// Checks a phase change (security and mixed incidents only).
pub fn check_phase(incident: &Incident, to: Phase) -> Result<(), String> {
    if !incident.domain.has_phases() {
        return Err("operations incidents have no response phases; use status".into());
    }
    if incident.status == Status::Closed {
        return Err("a closed incident cannot change; open a new one".into());
    }
    if incident.phase == Some(to) {
        return Err(format!("the incident is already in {}", to.as_str()));
    }
    if to == Phase::PostIncident && incident.status != Status::Resolved {
        return Err("the post-incident phase starts once the incident is resolved".into());
    }
    Ok(())
}
