//! Starting and restarting apiservers, and what a start is expected to end in.

use super::*;

impl<C: Cluster> Engine<'_, C> {
    pub(super) async fn start(
        &mut self,
        t: Target,
        expect: Option<&StartExpect>,
        restart: bool,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let servers = targets(t, self.flags.len());
        if restart {
            for &i in &servers {
                self.cluster.stop_apiserver(i).await?;
                self.state[i] = ServerState::Stopped;
            }
        }
        for &i in &servers {
            let outcome = self.cluster.start_apiserver(i).await?;
            let seen = match &outcome {
                Ok(()) => {
                    self.state[i] = ServerState::Ready;
                    "ready".to_owned()
                }
                Err(StartFailure::Exited { code, err }) => {
                    self.state[i] = ServerState::Stopped;
                    format!(
                        "exited{}: {}",
                        code.map(|c| format!(" with code {c}")).unwrap_or_default(),
                        self.as_reported(
                            err.as_deref().unwrap_or("(no \"command failed\" line in its log)")
                        )
                    )
                }
                Err(StartFailure::NotReady { failing }) => {
                    self.state[i] = ServerState::NotReady;
                    format!("running but not ready (failing checks: {})", failing.join(", "))
                }
            };
            rec.note(format!("apiserver {i}: {seen}"));
            match expect {
                None if outcome.is_err() => {
                    return Err(StepError::Harness(format!(
                        "apiserver {i} did not become ready and the scenario did not expect that: {seen}"
                    )));
                }
                None => {}
                Some(StartExpect::Exit(want)) => {
                    let got = match &outcome {
                        Err(StartFailure::Exited { err: Some(err), .. }) => self.as_reported(err),
                        _ => seen.clone(),
                    };
                    rec.check(
                        format!("apiserver {i} exits with the expected error"),
                        got == *want,
                        Some(want.clone()),
                        got,
                    );
                }
                Some(StartExpect::NotReady) => {
                    rec.check(
                        format!("apiserver {i} runs but is not ready"),
                        matches!(outcome, Err(StartFailure::NotReady { .. })),
                        None,
                        seen.clone(),
                    );
                }
                Some(StartExpect::Ready) => {
                    rec.check(
                        format!("apiserver {i} becomes ready"),
                        outcome.is_ok(),
                        None,
                        seen.clone(),
                    );
                }
            }
        }
        self.check_no_loss(rec).await
    }
}

impl<C: Cluster> Engine<'_, C> {
    /// `deleteMirrorPod`: the tutorial's restart, which restarts nothing.
    pub(super) async fn delete_mirror_pod(
        &mut self,
        i: usize,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        if self.state[i] == ServerState::Stopped {
            return Err(StepError::Harness(format!(
                "apiserver {i} is not running: there is no pod of it to delete"
            )));
        }
        let restarted = match self.cluster.delete_mirror_pod(i).await? {
            MirrorPodDeletion::NoKubelet => {
                rec.backend_notes.push(format!(
                    "no kubelet: apiserver {i} is not a static pod, so there is no mirror pod to \
                     delete and the apiserver is left running, as the kubelet leaves a static \
                     pod's container"
                ));
                false
            }
            MirrorPodDeletion::Recreated { restarted, details } => {
                rec.backend_notes.extend(details);
                restarted
            }
        };
        rec.note(format!(
            "apiserver {i} {}",
            if restarted {
                "was restarted"
            } else {
                "kept running with the configuration it read at start"
            }
        ));
        rec.check(
            format!(
                "apiserver {i} was not restarted: deleting a mirror pod never restarts a static pod"
            ),
            !restarted,
            None,
            if restarted { "restarted" } else { "not restarted" }.to_owned(),
        );
        Ok(())
    }
}
