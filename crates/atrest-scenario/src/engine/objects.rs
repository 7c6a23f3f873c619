//! Object steps through the API: create, update, get, delete, list, rewrite.

use super::*;

impl<C: Cluster> Engine<'_, C> {
    pub(super) fn check_api_error(
        &self,
        rec: &mut StepRecord,
        what: &str,
        expect: &ApiExpect,
        got: Result<(), &ApiError>,
    ) {
        match got {
            Ok(()) => {
                let want = expect
                    .error
                    .clone()
                    .or_else(|| expect.error_contains.clone())
                    .or_else(|| expect.code.as_ref().map(|c| format!("HTTP {}", c.value)));
                rec.check(format!("{what} fails"), false, want, "succeeded");
            }
            Err(e) => {
                let msg = self.as_reported(&e.message);
                if let Some(want) = &expect.error {
                    rec.check(
                        format!("{what} fails with the expected message"),
                        msg == *want,
                        Some(want.clone()),
                        msg.clone(),
                    );
                }
                if let Some(want) = &expect.error_contains {
                    rec.check(
                        format!("{what} fails with a message containing {want:?}"),
                        msg.contains(want.as_str()),
                        None,
                        msg.clone(),
                    );
                }
                if let Some(code) = expect.code.as_ref().map(|c| c.value) {
                    rec.check(
                        format!("{what} fails with HTTP {code}"),
                        e.code == code,
                        Some(code.to_string()),
                        format!("{} {}", e.code, e.reason),
                    );
                }
            }
        }
    }

    pub(super) async fn create_or_update(
        &mut self,
        s: &ObjectStep,
        create: bool,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let verb = if create { "create" } else { "update" };
        let data = to_data(&s.data);
        let expect = s.expect.clone().unwrap_or_default();
        let mut ok = 0;
        let mut failures = BTreeMap::<String, usize>::new();
        let objects = s.objects();
        for id in &objects {
            let object = Object { id: id.clone(), data: data.clone(), resource_version: None };
            let answer = if create {
                self.cluster.create(s.apiserver, &object).await?
            } else {
                self.cluster.update(s.apiserver, &object).await?
            };
            match answer {
                Ok(_) => {
                    ok += 1;
                    self.tracked.insert(id.clone(), data.clone());
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("{verb} {id}"), &expect, Ok(()));
                    }
                }
                Err(e) => {
                    *failures
                        .entry(format!("{} {}: {}", e.code, e.reason, self.as_reported(&e.message)))
                        .or_default() += 1;
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("{verb} {id}"), &expect, Err(&e));
                    } else {
                        rec.check(
                            format!("{verb} {id} succeeds"),
                            false,
                            None,
                            self.as_reported(&e.message),
                        );
                    }
                }
            }
        }
        if ok > 0 {
            rec.note(format!("{ok} {verb}d"));
        }
        for (text, n) in failures {
            rec.note(format!("{n} failed: {text}"));
        }
        Ok(())
    }

    pub(super) async fn get(
        &mut self,
        s: &ObjectStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let expect = s.expect.clone().unwrap_or_default();
        for id in s.objects() {
            match self.cluster.get(s.apiserver, &id).await? {
                Ok(o) => {
                    rec.note(format!("{id}: {}", describe_data(&o.data)));
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("get {id}"), &expect, Ok(()));
                        continue;
                    }
                    let (want, source) = match &expect.data {
                        Some(d) => (Some(to_data(d)), "the expected data"),
                        None => (self.tracked.get(&id).cloned(), "the data written last"),
                    };
                    if let Some(want) = want {
                        rec.check(
                            format!("get {id} returns {source}"),
                            o.data == want,
                            Some(describe_data(&want)),
                            describe_data(&o.data),
                        );
                    } else {
                        rec.check(format!("get {id} succeeds"), true, None, "ok");
                    }
                }
                Err(e) => {
                    rec.note(format!(
                        "{id}: {} {}: {}",
                        e.code,
                        e.reason,
                        self.as_reported(&e.message)
                    ));
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("get {id}"), &expect, Err(&e));
                    } else {
                        rec.check(
                            format!("get {id} succeeds"),
                            false,
                            None,
                            self.as_reported(&e.message),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn delete(
        &mut self,
        s: &ObjectStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let expect = s.expect.clone().unwrap_or_default();
        for id in s.objects() {
            match self.cluster.delete(s.apiserver, &id).await? {
                Ok(()) => {
                    self.tracked.remove(&id);
                    rec.note(format!("{id} deleted"));
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("delete {id}"), &expect, Ok(()));
                    }
                }
                Err(e) => {
                    rec.note(format!(
                        "{id}: {} {}: {}",
                        e.code,
                        e.reason,
                        self.as_reported(&e.message)
                    ));
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("delete {id}"), &expect, Err(&e));
                    } else {
                        rec.check(
                            format!("delete {id} succeeds"),
                            false,
                            None,
                            self.as_reported(&e.message),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn list(
        &mut self,
        l: &ListStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let kind = l.resource.kind();
        let expect = l.expect.clone().unwrap_or_default();
        let what = format!("list {}", kind.resource());
        match self.cluster.list(l.apiserver, kind, l.namespace.as_deref()).await? {
            Ok(objs) => {
                rec.note(format!("{} {} listed", objs.len(), kind.resource()));
                if expect.expects_failure() {
                    self.check_api_error(rec, &what, &expect, Ok(()));
                } else if let Some(n) = expect.count.as_ref().map(|n| n.value) {
                    rec.check(
                        format!("{what} returns {n} objects"),
                        objs.len() == n,
                        Some(n.to_string()),
                        objs.len().to_string(),
                    );
                }
            }
            Err(e) => {
                rec.note(format!("{} {}: {}", e.code, e.reason, self.as_reported(&e.message)));
                if expect.expects_failure() {
                    self.check_api_error(rec, &what, &expect, Err(&e));
                } else {
                    rec.check(
                        format!("{what} succeeds"),
                        false,
                        None,
                        self.as_reported(&e.message),
                    );
                }
            }
        }
        Ok(())
    }

    /// `kubectl get <resource> -A -o json | kubectl replace -f -`: each object is replaced as
    /// read (with its resourceVersion); a conflict means someone wrote it meanwhile, so it is
    /// read again and replaced again with what is there now.
    pub(super) async fn rewrite(
        &mut self,
        l: &ListStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let kind = l.resource.kind();
        let expect = l.expect.clone().unwrap_or_default();
        let what = format!("rewrite {}", kind.resource());
        let objs = match self.cluster.list(l.apiserver, kind, l.namespace.as_deref()).await? {
            Ok(objs) => objs,
            Err(e) => {
                rec.note(format!(
                    "the list fails: {} {}: {}",
                    e.code,
                    e.reason,
                    self.as_reported(&e.message)
                ));
                if expect.expects_failure() {
                    self.check_api_error(rec, &what, &expect, Err(&e));
                } else {
                    rec.check(
                        format!("{what} succeeds"),
                        false,
                        None,
                        self.as_reported(&e.message),
                    );
                }
                return Ok(());
            }
        };
        let (mut rewritten, mut unchanged, mut conflicts) = (0, 0, 0);
        let mut failures = Vec::new();
        let mut own = 0;
        for obj in objs {
            if let Some(c) = &l.concurrent_update
                && self.tracked.contains_key(&obj.id)
            {
                own += 1;
                if (own - 1) % c.every.value.max(1) == 0 {
                    // Another client writes between our list and our replace.
                    let data = to_data(&c.data);
                    let other =
                        Object { id: obj.id.clone(), data: data.clone(), resource_version: None };
                    match self.cluster.update(c.apiserver, &other).await? {
                        Ok(_) => {
                            self.tracked.insert(obj.id.clone(), data);
                        }
                        Err(e) => failures.push(format!(
                            "concurrent update of {}: {}",
                            obj.id,
                            self.as_reported(&e.message)
                        )),
                    }
                }
            }
            let mut current = obj;
            let mut attempts = 0;
            loop {
                attempts += 1;
                match self.cluster.update(l.apiserver, &current).await? {
                    Ok(new) => {
                        if new.resource_version == current.resource_version {
                            unchanged += 1;
                        } else {
                            rewritten += 1;
                        }
                        break;
                    }
                    Err(e) if e.code == 409 && attempts <= REWRITE_CONFLICT_RETRIES => {
                        conflicts += 1;
                        match self.cluster.get(l.apiserver, &current.id).await? {
                            Ok(fresh) => current = fresh,
                            Err(e) => {
                                failures.push(format!(
                                    "{}: {}",
                                    current.id,
                                    self.as_reported(&e.message)
                                ));
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        failures.push(format!("{}: {}", current.id, self.as_reported(&e.message)));
                        break;
                    }
                }
            }
        }
        rec.note(format!(
            "rewrote {rewritten}, unchanged {unchanged} (no-op updates), conflicts retried {conflicts}, failed {}",
            failures.len()
        ));
        if expect.expects_failure() {
            if let Some(first) = failures.first() {
                let e = ApiError { code: 0, reason: String::new(), message: first.clone() };
                self.check_api_error(
                    rec,
                    &what,
                    &ApiExpect { code: None, ..expect.clone() },
                    Err(&e),
                );
            } else {
                self.check_api_error(rec, &what, &expect, Ok(()));
            }
        } else if !failures.is_empty() {
            rec.check(
                format!("{what} succeeds for every object"),
                false,
                None,
                failures.join("; "),
            );
        }
        let counts = [
            (&expect.rewritten, rewritten, "writes {n} objects"),
            (&expect.conflicts, conflicts, "retries {n} conflicts"),
            (&expect.unchanged, unchanged, "leaves {n} objects as they were"),
        ];
        for (want, got, words) in counts {
            if let Some(n) = want.as_ref().map(|n| n.value) {
                let words = words.replace("{n}", &n.to_string());
                rec.check(
                    format!("{what} {words}"),
                    got == n,
                    Some(n.to_string()),
                    got.to_string(),
                );
            }
        }
        self.check_no_loss(rec).await
    }
}
