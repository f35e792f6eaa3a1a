//! Delete Blob, and container creation and removal.
//!
//! Azure answers 404 `BlobNotFound` to a delete of a missing blob, which is what every backend
//! reports ([`Error::NotFound`]), so a delete is one request. Deleting a container that still
//! holds blobs is refused with [`Error::FailedPrecondition`] as on every backend (Azure itself
//! would delete it with its contents), which costs one List Blobs of at most one entry first.

use azure_storage_blob::models::BlobContainerClientListBlobsOptions;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::uri::Location;

use super::{container_of, AzureStore};

impl AzureStore {
    pub(crate) async fn delete_blob(&self, location: &Location) -> Result<()> {
        location.require_object("delete")?;
        let account = self.account("delete", location)?;
        let uri = location.to_string();
        account
            .call("delete", &uri, || {
                let blob = account.blob(container_of(location), &location.key, &uri)?;
                Ok(async move { blob.delete(None).await })
            })
            .await?;
        Ok(())
    }

    pub(crate) async fn create_container(&self, location: &Location) -> Result<()> {
        let account = self.account("create_bucket", location)?;
        let uri = location.root_uri();
        let r = account
            .call("create_bucket", &uri, || {
                let c = account.container(container_of(location), &uri)?;
                Ok(async move { c.create(None).await })
            })
            .await;
        match r {
            Ok(_) | Err(Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn delete_container(&self, location: &Location) -> Result<()> {
        let account = self.account("delete_bucket", location)?;
        let uri = location.root_uri();
        let container = container_of(location);
        let holds_blobs = account
            .call("delete_bucket", &uri, || {
                let c = account.container(container, &uri)?;
                let opts = BlobContainerClientListBlobsOptions {
                    maxresults: Some(1),
                    ..BlobContainerClientListBlobsOptions::default()
                };
                let pager = c.list_blobs(Some(opts));
                Ok(async move {
                    match pager?.into_pages().next().await {
                        Some(page) => Ok(!page?.into_model()?.blob_items.is_empty()),
                        None => Ok(false),
                    }
                })
            })
            .await?;
        if holds_blobs {
            return Err(Error::FailedPrecondition {
                op: "delete_bucket",
                uri,
                reason: "the container is not empty".into(),
            });
        }
        account
            .call("delete_bucket", &uri, || {
                let c = account.container(container, &uri)?;
                Ok(async move { c.delete(None).await })
            })
            .await?;
        Ok(())
    }
}
