//! Object deletes, and bucket creation and removal.
//!
//! GCS answers 404 to a delete of a missing object, which is what every backend reports
//! ([`Error::NotFound`]), so a delete is one request. Deleting a bucket that still holds
//! objects is refused with [`Error::FailedPrecondition`] on every backend; GCS refuses it too
//! (409), and emulators may not, so one objects.list of at most one entry goes first.

use gcloud_storage::http::buckets::delete::DeleteBucketRequest;
use gcloud_storage::http::buckets::get::GetBucketRequest;
use gcloud_storage::http::buckets::insert::{InsertBucketParam, InsertBucketRequest};
use gcloud_storage::http::objects::delete::DeleteObjectRequest;
use gcloud_storage::http::objects::list::ListObjectsRequest;

use crate::error::{Error, Result};
use crate::uri::Location;

use super::client::Gcs;

pub(crate) async fn delete(gcs: &Gcs, location: &Location) -> Result<()> {
    location.require_object("delete")?;
    let uri = location.to_string();
    let request = DeleteObjectRequest {
        bucket: location.bucket.clone(),
        object: location.key.clone(),
        ..DeleteObjectRequest::default()
    };
    gcs.call("delete", &uri, |a| {
        let request = request.clone();
        async move { a.sdk.delete_object(&request).await }
    })
    .await
}

pub(crate) async fn create_bucket(gcs: &Gcs, location: &Location) -> Result<()> {
    let uri = location.root_uri();
    let authed = gcs.authed("create_bucket", &uri).await?;
    let project = match (&authed.project, gcs.config.is_anonymous()) {
        (Some(p), _) => p.clone(),
        // Emulators take any project.
        (None, true) => "s3dliod".into(),
        (None, false) => {
            return Err(Error::InvalidArgument {
                op: "create_bucket",
                uri,
                reason: "creating a bucket needs a project: set gcs.project or \
                         GOOGLE_CLOUD_PROJECT"
                    .into(),
            })
        }
    };
    let request = InsertBucketRequest {
        name: location.bucket.clone(),
        param: InsertBucketParam {
            project,
            ..InsertBucketParam::default()
        },
        ..InsertBucketRequest::default()
    };
    let created = gcs
        .call("create_bucket", &uri, |a| {
            let request = request.clone();
            async move { a.sdk.insert_bucket(&request).await }
        })
        .await;
    match created {
        Ok(_) => Ok(()),
        // 409 means the name is taken: by us (fine) or by someone else (we cannot read it).
        Err(Error::AlreadyExists { .. }) => {
            let request = GetBucketRequest {
                bucket: location.bucket.clone(),
                ..GetBucketRequest::default()
            };
            match gcs
                .call("create_bucket", &uri, |a| {
                    let request = request.clone();
                    async move { a.sdk.get_bucket(&request).await }
                })
                .await
            {
                Ok(_) => Ok(()),
                Err(Error::PermissionDenied { reason, .. }) => Err(Error::AlreadyExists {
                    op: "create_bucket",
                    uri,
                    reason: format!("the name belongs to another project ({reason})"),
                }),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

pub(crate) async fn delete_bucket(gcs: &Gcs, location: &Location) -> Result<()> {
    let uri = location.root_uri();
    let probe = ListObjectsRequest {
        bucket: location.bucket.clone(),
        max_results: Some(1),
        ..ListObjectsRequest::default()
    };
    let page = gcs
        .call("delete_bucket", &uri, |a| {
            let probe = probe.clone();
            async move { a.sdk.list_objects(&probe).await }
        })
        .await?;
    if page.items.is_some_and(|i| !i.is_empty()) {
        return Err(Error::FailedPrecondition {
            op: "delete_bucket",
            uri,
            reason: "the bucket is not empty".into(),
        });
    }
    let request = DeleteBucketRequest {
        bucket: location.bucket.clone(),
        ..DeleteBucketRequest::default()
    };
    gcs.call("delete_bucket", &uri, |a| {
        let request = request.clone();
        async move { a.sdk.delete_bucket(&request).await }
    })
    .await
}
