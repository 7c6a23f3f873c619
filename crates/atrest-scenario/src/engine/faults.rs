//! Fault steps: `kill` (a member gets a signal on purpose), `startMember` (it comes back),
//! `pause` and `resume`; members are etcd, the apiservers and the KMS plugins.

use std::time::Duration;

use atrest_backend::Member;

use super::*;
use crate::schema::{KillStep, MemberStep};

/// How long `startMember: {member: etcd}` waits for each running apiserver's `/readyz` to pass
/// again (the apiserver's etcd client reconnects with gRPC's backoff).
const READY_AGAIN_TIMEOUT: Duration = Duration::from_secs(60);

impl<C: Cluster> Engine<'_, C> {
    pub(super) async fn kill(
        &mut self,
        k: &KillStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let member = k.member();
        let signal = k.signal.to_backend();
        self.cluster.kill_member(&member, signal).await?;
        if let Member::ApiServer(i) = member {
            self.state[i] = ServerState::Stopped;
        }
        rec.note(format!("{member} got {signal} and exited"));
        Ok(())
    }

    pub(super) async fn start_member(
        &mut self,
        m: &MemberStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        match m.member() {
            Member::ApiServer(i) => self.start(Target::One(i), None, false, rec).await,
            Member::Etcd => {
                self.cluster.start_etcd().await?;
                rec.note("etcd started again on its data directory");
                let running: Vec<usize> = (0..self.state.len())
                    .filter(|&i| self.state[i] != ServerState::Stopped)
                    .collect();
                self.ready_again(running, rec).await
            }
            Member::KmsPlugin(name) => {
                self.cluster.start_kms_plugin(&name).await?;
                rec.note(format!("KMS plugin {name} started again with its key file"));
                let running: Vec<usize> = (0..self.state.len())
                    .filter(|&i| self.state[i] != ServerState::Stopped)
                    .collect();
                self.ready_again(running, rec).await
            }
        }
    }

    pub(super) async fn pause(
        &mut self,
        m: &MemberStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let member = m.member();
        self.cluster.pause_member(&member).await?;
        if let Member::ApiServer(i) = member {
            // Nothing is asked of a frozen apiserver (the no-loss check skips it) until `resume`.
            self.state[i] = ServerState::Stopped;
        }
        rec.note(format!("{member} is paused"));
        Ok(())
    }

    pub(super) async fn resume(
        &mut self,
        m: &MemberStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let member = m.member();
        self.cluster.resume_member(&member).await?;
        rec.note(format!("{member} goes on"));
        let servers: Vec<usize> = match member {
            Member::ApiServer(i) => {
                self.state[i] = ServerState::NotReady;
                vec![i]
            }
            _ => (0..self.state.len()).filter(|&i| self.state[i] != ServerState::Stopped).collect(),
        };
        self.ready_again(servers, rec).await
    }

    /// After etcd came back or a member was resumed: polls each of `servers`' `/readyz` until
    /// it passes (checked), then runs the no-loss check.
    async fn ready_again(
        &mut self,
        servers: Vec<usize>,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        for i in servers {
            let (code, body) = self.poll_ready(i).await?;
            self.state[i] = if code == 200 { ServerState::Ready } else { ServerState::NotReady };
            rec.check(
                format!("apiserver {i} is ready again (/readyz answers 200)"),
                code == 200,
                None,
                if code == 200 {
                    "200".to_owned()
                } else {
                    format!("{code}: {}", self.as_reported(body.trim_end()))
                },
            );
        }
        self.check_no_loss(rec).await
    }

    /// Polls apiserver `i`'s `/readyz` once a second until it answers 200, at most
    /// [`READY_AGAIN_TIMEOUT`] (a simulated cluster moves its clock instead of waiting).
    async fn poll_ready(&mut self, i: usize) -> Result<(u16, String), StepError> {
        let interval = Duration::from_secs(1);
        let mut ticker = Ticker::new(Instant::now().checked_add(READY_AGAIN_TIMEOUT), interval);
        let mut simulated = Duration::ZERO;
        loop {
            let answer = self.cluster.probe(i, "/readyz").await?;
            if answer.0 == 200 || simulated >= READY_AGAIN_TIMEOUT {
                return Ok(answer);
            }
            if self.cluster.advance_clock(interval) {
                simulated += interval;
            } else if !ticker.tick().await {
                return Ok(answer);
            }
        }
    }
}
