//! DeleteObject, and bucket creation and removal.
//!
//! S3 answers 204 to a DeleteObject of a missing key, but every backend reports a missing key
//! as [`Error::NotFound`] (`docs/semantics.md`). So a delete is a HeadObject followed by a
//! DeleteObject: two requests, and a key deleted by someone else between the two is reported
//! as deleted. DeleteObjects batches cannot help here: they report missing keys as deleted too.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::error::{Error, Result};
use crate::uri::Location;

use super::{error::from_sdk, S3Store};

impl S3Store {
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
