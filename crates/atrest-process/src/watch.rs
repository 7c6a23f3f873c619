//! Member watching: which child exited without being asked to, how it ended, and where its log
//! is. [`ControlPlane::member_exited`](crate::ControlPlane::member_exited) waits for the first
//! such exit (an event from the child's waiter thread, no polling);
//! [`ProcessCluster`](crate::ProcessCluster)'s `Cluster::unexpected_exit` asks without waiting.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use atrest_backend::{Member, MemberExit};

use crate::apiserver::ApiServer;
use crate::etcd::Etcd;
use crate::process::{Exit, ManagedProcess};

/// The report of `member`, whose `process` ended with `exit`.
fn report(member: Member, process: &ManagedProcess, exit: Exit) -> MemberExit {
    MemberExit { member, how: exit.how(), log: Some(process.stderr_log().to_owned()) }
}

/// The watched members of a control plane: etcd first (when it dies, the apiservers may
/// follow, and it is the cause), then each apiserver that has a process.
pub(crate) fn members<'a>(
    etcd: &'a Etcd,
    apiservers: impl IntoIterator<Item = (usize, &'a ApiServer)>,
) -> Vec<(Member, &'a ManagedProcess)> {
    let mut members: Vec<_> = etcd.process().map(|p| (Member::Etcd, p)).into_iter().collect();
    members.extend(
        apiservers.into_iter().filter_map(|(i, a)| Some((Member::ApiServer(i), a.process()?))),
    );
    members
}

/// The first of `members` whose process ended without being asked to; never blocks.
pub(crate) fn unexpected_exit(members: Vec<(Member, &ManagedProcess)>) -> Option<MemberExit> {
    members.into_iter().find_map(|(member, process)| {
        let exit = process.exit().filter(|e| !e.requested)?;
        Some(report(member, process, exit))
    })
}

/// Waits until one of `members` exits without being asked to, and reports it; never returns
/// when there is none. Callers hold the processes borrowed, so nothing can stop one on
/// purpose meanwhile: any exit seen here is unasked, except one requested before the call.
pub(crate) async fn first_unexpected_exit(members: Vec<(Member, &ManagedProcess)>) -> MemberExit {
    type Waiting<'a> = Pin<Box<dyn Future<Output = Option<MemberExit>> + 'a>>;
    let mut waiting: Vec<Waiting<'_>> = members
        .into_iter()
        .map(|(member, process)| -> Waiting<'_> {
            Box::pin(async move {
                let exit = process.exited().await;
                (!exit.requested).then(|| report(member, process, exit))
            })
        })
        .collect();
    std::future::poll_fn(|cx| {
        let mut i = 0;
        while i < waiting.len() {
            match waiting[i].as_mut().poll(cx) {
                Poll::Ready(Some(exit)) => return Poll::Ready(exit),
                // Stopped on purpose: nothing more to watch there.
                Poll::Ready(None) => drop(waiting.swap_remove(i)),
                Poll::Pending => i += 1,
            }
        }
        // Nothing left to watch (or nothing to begin with) pends for ever.
        Poll::Pending
    })
    .await
}

/// Runs `futures` concurrently and returns their outputs in order.
pub(crate) async fn all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut running: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, out) in running.iter_mut().zip(&mut done) {
            if out.is_none()
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *out = Some(value);
            }
        }
        if done.iter().all(Option::is_some) { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    done.into_iter().map(|v| v.expect("every future finished")).collect()
}
