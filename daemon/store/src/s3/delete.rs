//! DeleteObject, and bucket creation and removal.
//!
//! S3 answers 204 to a DeleteObject of a missing key, but every backend reports a missing key
//! as [`Error::NotFound`] (`docs/semantics.md`). So a delete is a HeadObject followed by a
//! DeleteObject: two requests, and a key deleted by someone else between the two is reported
//! as deleted. DeleteObjects batches cannot help here: they report missing keys as deleted too.

use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
};

use crate::error::{Error, Result};
use crate::uri::Location;

use super::{error::from_sdk, S3Store};

/// Keys of one DeleteObjects request, S3's limit.
pub(crate) const DELETE_BATCH: usize = 1000;

impl S3Store {
    /// Deletes listed keys of one bucket and profile with DeleteObjects requests of up to
    /// [`DELETE_BATCH`] keys; one outcome per location.
    pub(crate) async fn delete_batch(
        &self,
        locations: Vec<Location>,
    ) -> Vec<(Location, Result<()>)> {
        let Some(first) = locations.first() else {
            return Vec::new();
        };
        let t = match self.target("delete", first) {
            Ok(t) => t,
            Err(e) => {
                let msg = e.to_string();
                return fail_all(locations, &msg);
            }
        };
        if locations.len() > DELETE_BATCH || locations.iter().any(|l| l.bucket != first.bucket) {
            // One request serves one bucket: split the rest off.
            let mut out = Vec::with_capacity(locations.len());
            let mut groups: Vec<Vec<Location>> = Vec::new();
            for l in locations {
                match groups.last_mut() {
                    Some(g) if g.len() < DELETE_BATCH && g[0].bucket == l.bucket => g.push(l),
                    _ => groups.push(vec![l]),
                }
            }
            for g in groups {
                out.extend(Box::pin(self.delete_batch(g)).await);
            }
            return out;
        }
        let uri = format!("{}/", first.root_uri());
        let objects: Vec<ObjectIdentifier> = locations
            .iter()
            .filter_map(|l| ObjectIdentifier::builder().key(&l.key).build().ok())
            .collect();
        let delete = match Delete::builder()
            .set_objects(Some(objects))
            .quiet(false)
            .build()
        {
            Ok(d) => d,
            Err(e) => return fail_all(locations, &format!("delete {uri}: {e}")),
        };
        let sent = t
            .retry()
            .run("delete", &uri, || async {
                let _permit = t.ep.permit().await;
                t.client()
                    .await?
                    .delete_objects()
                    .bucket(t.bucket)
                    .delete(delete.clone())
                    .send()
                    .await
                    .map_err(|e| from_sdk("delete", &uri, &t.ep.shown, e))
            })
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                let msg = e.to_string();
                return fail_all(locations, &msg);
            }
        };
        let mut failed: std::collections::HashMap<&str, Error> = out
            .errors()
            .iter()
            .map(|e| {
                let key = e.key().unwrap_or_default();
                let code = e.code().unwrap_or_default();
                let reason = format!("{code}: {}", e.message().unwrap_or_default());
                (key, (code.to_string(), reason))
            })
            .map(|(key, (code, reason))| {
                let loc = first.with_key(key);
                (
                    key,
                    super::error::classify("delete", loc.to_string(), 0, &code, reason),
                )
            })
            .collect();
        locations
            .into_iter()
            .map(|l| {
                let r = failed.remove(l.key.as_str()).map_or(Ok(()), Err);
                (l, r)
            })
            .collect()
    }

    pub(crate) async fn delete_object(&self, location: &Location) -> Result<()> {
        location.require_object("delete")?;
        self.head_object(location).await.map_err(|e| match e {
            Error::NotFound { uri, reason, .. } => Error::NotFound {
                op: "delete",
                uri,
                reason,
            },
            e => e,
        })?;
        let t = self.target("delete", location)?;
        let uri = location.to_string();
        t.retry()
            .run("delete", &uri, || async {
                let _permit = t.ep.permit().await;
                t.client()
                    .await?
                    .delete_object()
                    .bucket(t.bucket)
                    .key(&location.key)
                    .send()
                    .await
                    .map_err(|e| from_sdk("delete", &uri, &t.ep.shown, e))
            })
            .await?;
        Ok(())
    }

    pub(crate) async fn create(&self, location: &Location) -> Result<()> {
        let t = self.target("create_bucket", location)?;
        let uri = location.root_uri();
        let region = t.ep.region().await?;
        let conf = region.filter(|r| r != "us-east-1").map(|r| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(r.as_str()))
                .build()
        });
        t.retry()
            .run("create_bucket", &uri, || async {
                let _permit = t.ep.permit().await;
                let sent = t
                    .client()
                    .await?
                    .create_bucket()
                    .bucket(t.bucket)
                    .set_create_bucket_configuration(conf.clone())
                    .send()
                    .await;
                match sent {
                    Ok(_) => Ok(()),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(from_sdk("create_bucket", &uri, &t.ep.shown, e)),
                }
            })
            .await
    }

    pub(crate) async fn remove(&self, location: &Location) -> Result<()> {
        let t = self.target("delete_bucket", location)?;
        let uri = location.root_uri();
        t.retry()
            .run("delete_bucket", &uri, || async {
                let _permit = t.ep.permit().await;
                t.client()
                    .await?
                    .delete_bucket()
                    .bucket(t.bucket)
                    .send()
                    .await
                    .map_err(|e| from_sdk("delete_bucket", &uri, &t.ep.shown, e))
            })
            .await?;
        Ok(())
    }
}

/// The same failure for every location of a batch that could not be sent.
fn fail_all(locations: Vec<Location>, msg: &str) -> Vec<(Location, Result<()>)> {
    locations
        .into_iter()
        .map(|l| {
            let e = Error::Unavailable {
                op: "delete",
                uri: l.to_string(),
                reason: msg.to_string(),
            };
            (l, Err(e))
        })
        .collect()
}
