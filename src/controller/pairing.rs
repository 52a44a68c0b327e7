//! Pairing on a running machine: the owner's approval of a stranger's code (the
//! `fasterclaw.io/approve-pairing-code` annotation, which the facade also writes) is
//! carried out with Fly.io's `exec`, and the strangers who wait are listed when a
//! reconcile is asked for. Both land in `status.pairing`.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use super::events::{EventReason, Note};
use super::reconcile::Reconciler;
use super::world::World;
use crate::crd::{ApprovalResult, PairingApproval, PendingPairing, annotation};
use crate::fly::{Machine, MachineState};
use crate::runtime::pairing::{self, PairingCode, PairingRequest};

/// How long one pairing command may run in the machine.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest text kept from a command's output.
const MESSAGE_LIMIT: usize = 300;

impl Reconciler<'_> {
    /// Carries out a new approval and lists the pending requests when asked, on a
    /// started machine; what the machine said goes into `world.pairing`.
    pub(super) async fn attend_pairing(&self, world: &mut World) {
        let Some(machine) = world
            .machine
            .as_ref()
            .filter(|m| m.state == MachineState::Started)
        else {
            return;
        };
        let previous = self.previous.pairing.clone().unwrap_or_default();
        let requested = self.reconcile_requested.is_some()
            && self.reconcile_requested != self.previous.last_handled_reconcile_at.as_deref();
        // A new code is approved once; one whose approval failed, again when asked.
        let asked = self
            .instance
            .annotation(annotation::APPROVE_PAIRING_CODE)
            .filter(|code| {
                previous.approval.as_ref().is_none_or(|a| {
                    a.code != *code || (requested && a.result == ApprovalResult::Failed)
                })
            });
        // Under an allowlist nobody is sent a code: there is nothing to list. An approval
        // is one command in the machine, the listing another: one of them per reconcile.
        let listing_asked =
            requested && asked.is_none() && self.instance.spec.telegram_user_ids.is_empty();
        if asked.is_none() && !listing_asked {
            return;
        }
        let mut status = previous;
        if listing_asked {
            match self.list_pairing(machine).await {
                Ok(pending) => {
                    status.pending = pending;
                    status.list_error = None;
                    status.listed_at = Some(now());
                }
                Err(message) => status.list_error = Some(message),
            }
        }
        if let Some(code) = asked {
            let approval = self.approve(machine, code, &status.pending).await;
            if approval.result == ApprovalResult::Approved {
                status.pending.retain(|p| p.code != approval.code);
            }
            let note = match approval.result {
                ApprovalResult::Approved => Note::new(
                    EventReason::PairingApproved,
                    format!(
                        "approved pairing code {}: Telegram user {} may write to the assistant",
                        approval.code,
                        approval.telegram_user_id.as_deref().unwrap_or("?")
                    ),
                ),
                _ => Note::new(
                    EventReason::PairingNotApproved,
                    approval.message.clone().unwrap_or_default(),
                ),
            };
            self.publish(note).await;
            status.approval = Some(approval);
        }
        world.pairing = Some(status);
    }

    async fn list_pairing(&self, machine: &Machine) -> Result<Vec<PendingPairing>, String> {
        let command = pairing::list_command();
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        let answer = self
            .ctx
            .fly
            .exec(&self.app, &machine.id, &words, COMMAND_TIMEOUT)
            .await
            .map_err(|e| format!("cannot list pairing requests: {e}"))?;
        if answer.exit_code != 0 {
            return Err(format!(
                "listing pairing requests exited {}: {}",
                answer.exit_code,
                clip(&answer.stderr)
            ));
        }
        let requests = pairing::parse_listing(&answer.stdout)?;
        Ok(requests.iter().take(100).map(pending).collect())
    }

    async fn approve(
        &self,
        machine: &Machine,
        asked: &str,
        listed: &[PendingPairing],
    ) -> PairingApproval {
        let outcome = |result, telegram_user_id: Option<String>, message: String| PairingApproval {
            code: asked.chars().take(64).collect(),
            result,
            telegram_user_id,
            message: Some(message),
            handled_at: now(),
        };
        let code = match PairingCode::parse(asked) {
            Ok(code) => code,
            Err(rule) => {
                return outcome(
                    ApprovalResult::Invalid,
                    None,
                    format!("{:?} is not a pairing code: {rule}", clip(asked)),
                );
            }
        };
        let command = pairing::approve_command(&code);
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        let mut approval = match self
            .ctx
            .fly
            .exec(&self.app, &machine.id, &words, COMMAND_TIMEOUT)
            .await
        {
            Ok(answer) if answer.exit_code == 0 => outcome(
                ApprovalResult::Approved,
                approved_sender(&answer.stdout).or_else(|| {
                    listed
                        .iter()
                        .find(|p| p.code == code.as_str())
                        .map(|p| p.telegram_user_id.clone())
                }),
                format!("approved pairing code {code}"),
            ),
            Ok(answer) => {
                let said = format!("{} {}", answer.stdout, answer.stderr);
                // "No pending pairing request found for code …"
                if said.to_ascii_lowercase().contains("no pending") {
                    outcome(
                        ApprovalResult::NotPending,
                        None,
                        format!(
                            "no stranger waits with pairing code {code} (codes expire after an hour)"
                        ),
                    )
                } else {
                    outcome(
                        ApprovalResult::Failed,
                        None,
                        format!(
                            "approving pairing code {code} exited {}: {}",
                            answer.exit_code,
                            clip(said.trim())
                        ),
                    )
                }
            }
            Err(e) => outcome(
                ApprovalResult::Failed,
                None,
                format!("cannot approve pairing code {code}: {e}"),
            ),
        };
        approval.code = code.to_string();
        approval
    }
}

fn pending(request: &PairingRequest) -> PendingPairing {
    let text = |key: &str| {
        request
            .meta
            .get(key)
            .and_then(|v| v.as_str())
            .map(|s| s.chars().take(64).collect::<String>())
    };
    PendingPairing {
        code: request.code.chars().take(16).collect(),
        telegram_user_id: request.id.chars().take(32).collect(),
        username: text("username"),
        first_name: text("firstName"),
        requested_at: Some(request.created_at.clone()).filter(|s| !s.is_empty()),
    }
}

/// The sender id in "Approved telegram sender 123."
fn approved_sender(stdout: &str) -> Option<String> {
    let rest = stdout.split("sender").nth(1)?;
    let id: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!id.is_empty()).then_some(id)
}

fn clip(text: &str) -> String {
    text.chars().take(MESSAGE_LIMIT).collect()
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approved_sender_is_read_from_the_cli_answer() {
        assert_eq!(
            approved_sender("Approved telegram sender 4242.\n").as_deref(),
            Some("4242")
        );
        assert_eq!(approved_sender("something else"), None);
    }
}
