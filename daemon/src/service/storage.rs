//! The `Storage` service: admits each call (see [`Daemon::begin`]) and hands it to the file
//! that implements it.

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use s3dlio_proto::v1::{self, storage_server::Storage};

use crate::convert;
use crate::metrics::Op;
use crate::state::Daemon;
use crate::status::to_status;

use super::{delete, get, get_many, list, put};

/// Implements `s3dlio.v1.Storage`.
#[derive(Debug, Clone)]
pub struct StorageService {
    pub daemon: Arc<Daemon>,
}

#[tonic::async_trait]
impl Storage for StorageService {
    type GetStream = get::GetStream;
    type GetManyStream = get_many::GetManyStream;
    type ListStream = list::ListStream;
    type DeleteStream = delete::DeleteStream;

    async fn get(
        &self,
        request: Request<v1::GetRequest>,
    ) -> Result<Response<Self::GetStream>, Status> {
        let (guard, caller) = self.daemon.begin(&request, Op::Get)?;
        get::get(&self.daemon, guard, caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_many(
        &self,
        request: Request<Streaming<v1::GetManyRequest>>,
    ) -> Result<Response<Self::GetManyStream>, Status> {
        // The call itself is admitted like any other; each item is counted as a get.
        let (session, caller) = self.daemon.admit_data(&request, Op::Get)?;
        get_many::get_many(self.daemon.clone(), session, caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn put(
        &self,
        request: Request<Streaming<v1::PutRequest>>,
    ) -> Result<Response<v1::PutResponse>, Status> {
        let (guard, caller) = self.daemon.begin(&request, Op::Put)?;
        put::put(&self.daemon, guard, caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list(
        &self,
        request: Request<v1::ListRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let (guard, caller) = self.daemon.begin(&request, Op::List)?;
        list::list(&self.daemon, guard, caller, request.into_inner()).map(Response::new)
    }

    async fn stat(
        &self,
        request: Request<v1::StatRequest>,
    ) -> Result<Response<v1::ObjectMeta>, Status> {
        let (mut guard, caller) = self.daemon.begin(&request, Op::Stat)?;
        let uri = request.into_inner().uri;
        guard.target(&uri);
        let result = async {
            let (store, location) = self.daemon.registry.resolve(&uri, &caller)?;
            location.require_object("stat")?;
            store.head(&location).await
        }
        .await;
        guard
            .check(result)
            .map(|m| Response::new(convert::object_meta(&m)))
            .map_err(to_status)
    }

    async fn delete(
        &self,
        request: Request<v1::DeleteRequest>,
    ) -> Result<Response<Self::DeleteStream>, Status> {
        let (session, caller) = self.daemon.admit_data(&request, Op::Delete)?;
        delete::delete(self.daemon.clone(), session, caller, request.into_inner())
            .map(Response::new)
    }

    async fn attach(
        &self,
        request: Request<v1::AttachRequest>,
    ) -> Result<Response<v1::AttachResponse>, Status> {
        let peer = self.daemon.admit(&request)?.clone();
        crate::shm::attach(&self.daemon, &peer, request.into_inner()).map(Response::new)
    }

    async fn create_bucket(
        &self,
        request: Request<v1::BucketRequest>,
    ) -> Result<Response<v1::BucketResponse>, Status> {
        let (mut guard, caller) = self.daemon.begin(&request, Op::CreateBucket)?;
        let uri = request.into_inner().uri;
        guard.target(&uri);
        let result = async {
            let (store, location) = self.daemon.registry.resolve(&uri, &caller)?;
            store.create_bucket(&location).await
        }
        .await;
        guard
            .check(result)
            .map(|()| Response::new(v1::BucketResponse { uri }))
            .map_err(to_status)
    }

    async fn delete_bucket(
        &self,
        request: Request<v1::BucketRequest>,
    ) -> Result<Response<v1::BucketResponse>, Status> {
        let (mut guard, caller) = self.daemon.begin(&request, Op::DeleteBucket)?;
        let uri = request.into_inner().uri;
        guard.target(&uri);
        let result = async {
            let (store, location) = self.daemon.registry.resolve(&uri, &caller)?;
            store.delete_bucket(&location).await
        }
        .await;
        guard
            .check(result)
            .map(|()| Response::new(v1::BucketResponse { uri }))
            .map_err(to_status)
    }
}
