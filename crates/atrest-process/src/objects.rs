//! Object requests over kube-rs as the `Cluster` boundary states them: Secrets and ConfigMaps
//! as [`Object`]s, and every API failure the apiserver's own `Status` ([`ApiError`]). Shared by
//! the backends that reach an apiserver through a kubeconfig (`process`, `containers`, and
//! `existing`, a user's cluster).

use atrest_backend::{ApiError, ApiResult, BackendError, Data, Kind, Object, ObjectRef};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

/// The field manager of every write: the same for create and update, so that an update that
/// changes nothing leaves `managedFields` (and so the stored object) unchanged.
pub const FIELD_MANAGER: &str = "atrest";

/// Page size of LIST requests: kubectl's default `--chunk-size`.
const LIST_CHUNK_SIZE: u32 = 500;

/// Secrets and ConfigMaps through one apiserver's client.
#[derive(Clone)]
pub struct ObjectApi {
    client: kube::Client,
}

impl std::fmt::Debug for ObjectApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectApi").finish_non_exhaustive()
    }
}

impl ObjectApi {
    /// Requests through `client` (build it without kube's retries to see every answer as sent).
    pub fn new(client: kube::Client) -> ObjectApi {
        ObjectApi { client }
    }

    /// Creates namespace `name` with `labels`; `Ok(Err(409 AlreadyExists))` when it exists.
    pub async fn create_namespace(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Result<ApiResult<()>, BackendError> {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(
                    labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let api: Api<Namespace> = Api::all(self.client.clone());
        Ok(answer(api.create(&post_params(), &ns).await, &format!("creating namespace {name}"))?
            .map(drop))
    }

    /// Deletes namespace `name` (its contents go when the namespace controller finalizes it).
    pub async fn delete_namespace(&self, name: &str) -> Result<ApiResult<()>, BackendError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let what = format!("deleting namespace {name}");
        Ok(answer(api.delete(name, &DeleteParams::default()).await, &what)?.map(drop))
    }

    /// Names of the namespaces carrying label `key=value`.
    pub async fn namespaces_labelled(
        &self,
        key: &str,
        value: &str,
    ) -> Result<ApiResult<Vec<String>>, BackendError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let lp = ListParams::default().labels(&format!("{key}={value}"));
        Ok(answer(api.list(&lp).await, "listing namespaces")?
            .map(|l| l.items.into_iter().filter_map(|n| n.metadata.name).collect()))
    }

    /// POST the object.
    pub async fn create(&self, object: &Object) -> Result<ApiResult<Object>, BackendError> {
        let client = self.client.clone();
        let ns = Some(object.id.namespace.as_str());
        let what = format!("creating {}", object.id);
        Ok(match object.id.kind {
            Kind::Secret => {
                answer(secrets(client, ns).create(&post_params(), &to_secret(object)).await, &what)?
                    .map(from_secret)
            }
            Kind::ConfigMap => {
                let cm = to_config_map(object)?;
                answer(config_maps(client, ns).create(&post_params(), &cm).await, &what)?
                    .map(from_config_map)
            }
        })
    }

    /// PUT the object (its `resource_version`, if any, is the precondition).
    pub async fn update(&self, object: &Object) -> Result<ApiResult<Object>, BackendError> {
        let client = self.client.clone();
        let ns = Some(object.id.namespace.as_str());
        let name = object.id.name.as_str();
        let what = format!("updating {}", object.id);
        Ok(match object.id.kind {
            Kind::Secret => answer(
                secrets(client, ns).replace(name, &post_params(), &to_secret(object)).await,
                &what,
            )?
            .map(from_secret),
            Kind::ConfigMap => {
                let cm = to_config_map(object)?;
                answer(config_maps(client, ns).replace(name, &post_params(), &cm).await, &what)?
                    .map(from_config_map)
            }
        })
    }

    /// GET one object.
    pub async fn get(&self, id: &ObjectRef) -> Result<ApiResult<Object>, BackendError> {
        let client = self.client.clone();
        let ns = Some(id.namespace.as_str());
        let what = format!("reading {id}");
        Ok(match id.kind {
            Kind::Secret => {
                answer(secrets(client, ns).get(&id.name).await, &what)?.map(from_secret)
            }
            Kind::ConfigMap => {
                answer(config_maps(client, ns).get(&id.name).await, &what)?.map(from_config_map)
            }
        })
    }

    /// LIST a kind, in one namespace or all, in pages as kubectl does.
    pub async fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<ApiResult<Vec<Object>>, BackendError> {
        let client = self.client.clone();
        let what = format!("listing {}", kind.resource());
        // In pages of 500, as kubectl does (--chunk-size): a limited list is served by etcd
        // while the watch cache is not ready (cacher/delegator.go
        // shouldDelegateListOnNotReadyCache), so unreadable objects answer with the store's
        // StoreReadError rather than the cache's timing-dependent 429.
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(LIST_CHUNK_SIZE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let next = match kind {
                Kind::Secret => {
                    match answer(secrets(client.clone(), namespace).list(&lp).await, &what)? {
                        Ok(l) => {
                            objects.extend(l.items.into_iter().map(from_secret));
                            l.metadata.continue_
                        }
                        Err(e) => return Ok(Err(e)),
                    }
                }
                Kind::ConfigMap => {
                    match answer(config_maps(client.clone(), namespace).list(&lp).await, &what)? {
                        Ok(l) => {
                            objects.extend(l.items.into_iter().map(from_config_map));
                            l.metadata.continue_
                        }
                        Err(e) => return Ok(Err(e)),
                    }
                }
            };
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(Ok(objects))
    }

    /// DELETE one object.
    pub async fn delete(&self, id: &ObjectRef) -> Result<ApiResult<()>, BackendError> {
        let client = self.client.clone();
        let ns = Some(id.namespace.as_str());
        let what = format!("deleting {id}");
        let dp = DeleteParams::default();
        Ok(match id.kind {
            Kind::Secret => {
                answer(secrets(client, ns).delete(&id.name, &dp).await, &what)?.map(drop)
            }
            Kind::ConfigMap => {
                answer(config_maps(client, ns).delete(&id.name, &dp).await, &what)?.map(drop)
            }
        })
    }

    /// GET `/metrics`.
    pub async fn metrics(&self) -> Result<ApiResult<String>, BackendError> {
        let client = self.client.clone();
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| BackendError::other("building the /metrics request", e))?;
        answer(client.request_text(request).await, "reading /metrics")
    }

    /// GET a health path (`/readyz?verbose`…): its code and body, whatever the code.
    pub async fn probe(&self, path: &str) -> Result<(u16, String), kube::Error> {
        crate::apiserver::get_path(&self.client, path).await
    }
}

/// An API answer: the value, the apiserver's `Status` as [`ApiError`] (exactly as sent), or a
/// transport failure.
fn answer<T>(result: Result<T, kube::Error>, what: &str) -> Result<ApiResult<T>, BackendError> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(kube::Error::Api(status)) => Ok(Err(ApiError {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        })),
        Err(e) => Err(BackendError::other(what.to_owned(), e)),
    }
}

fn meta(object: &Object) -> ObjectMeta {
    ObjectMeta {
        name: Some(object.id.name.clone()),
        namespace: Some(object.id.namespace.clone()),
        resource_version: object.resource_version.clone(),
        ..ObjectMeta::default()
    }
}

fn to_secret(object: &Object) -> Secret {
    Secret {
        metadata: meta(object),
        data: Some(object.data.0.iter().map(|(k, v)| (k.clone(), ByteString(v.clone()))).collect()),
        ..Secret::default()
    }
}

fn to_config_map(object: &Object) -> Result<ConfigMap, BackendError> {
    let mut data = std::collections::BTreeMap::new();
    for (k, v) in &object.data.0 {
        let text = String::from_utf8(v.clone()).map_err(|e| {
            BackendError::other(format!("ConfigMap {} key {k:?} is not UTF-8", object.id), e)
        })?;
        data.insert(k.clone(), text);
    }
    Ok(ConfigMap { metadata: meta(object), data: Some(data), ..ConfigMap::default() })
}

fn id_of(kind: Kind, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(
        kind,
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn from_secret(s: Secret) -> Object {
    Object {
        id: id_of(Kind::Secret, &s.metadata),
        data: Data(s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()),
        resource_version: s.metadata.resource_version,
    }
}

fn from_config_map(c: ConfigMap) -> Object {
    Object {
        id: id_of(Kind::ConfigMap, &c.metadata),
        data: Data(
            c.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect(),
        ),
        resource_version: c.metadata.resource_version,
    }
}

fn post_params() -> PostParams {
    PostParams { dry_run: false, field_manager: Some(FIELD_MANAGER.to_owned()) }
}

fn secrets(client: kube::Client, namespace: Option<&str>) -> Api<Secret> {
    namespace.map_or_else(|| Api::all(client.clone()), |ns| Api::namespaced(client.clone(), ns))
}

fn config_maps(client: kube::Client, namespace: Option<&str>) -> Api<ConfigMap> {
    namespace.map_or_else(|| Api::all(client.clone()), |ns| Api::namespaced(client.clone(), ns))
}
