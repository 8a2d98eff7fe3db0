//! Flight SQL on arrow-flight's `FlightSqlService`: every statement runs through the
//! caller's Canon session, so the policy, the plan hook and diagnostics apply on every
//! path: statements, updates, prepared statements and metadata.

mod convert;
mod metadata;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    Ticket,
};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema};
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::arrow::record_batch::RecordBatch;
use canon::datafusion::error::DataFusionError;
use canon::datafusion::execution::SendableRecordBatchStream;
use canon::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use canon::{CanonError, Session};
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tokio::time::Instant;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Auth;
use crate::connection::{Busy, Connection, ConnectionInfo};
use crate::contain::contained_stream;
use crate::stream::{Cut, Limited, bounded};

use convert::{
    arrow_status, handle_name, parameter_rows, row_count, schema_bytes, status, timed_out,
};

type DoGetStream = <FlightSql as FlightService>::DoGetStream;
type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

/// Canon's Flight SQL service.
pub struct FlightSql {
    auth: Arc<Auth>,
    statement_timeout: Option<Duration>,
}

/// The connection, session and busy mark of one authenticated request.
struct Caller {
    connection: Arc<Connection>,
    session: Session,
    busy: Busy,
}

impl FlightSql {
    /// The service, authenticating with `auth` and cutting statements at `statement_timeout`.
    pub fn new(auth: Arc<Auth>, statement_timeout: Option<Duration>) -> Self {
        Self {
            auth,
            statement_timeout,
        }
    }

    /// The request's connection, if it is admitted.
    fn connection<T>(request: &Request<T>) -> Result<Arc<Connection>, Status> {
        let ConnectionInfo(connection) = request
            .extensions()
            .get::<ConnectionInfo>()
            .ok_or_else(|| Status::internal("request arrived without its connection"))?;
        if connection.refused() {
            return Err(Status::resource_exhausted(format!(
                "the server already has its maximum of {} connections; try again later",
                connection.limit()
            )));
        }
        Ok(Arc::clone(connection))
    }

    /// The user a request authenticates as.
    fn user<T>(&self, request: &Request<T>) -> Result<String, Status> {
        let header =
            match request.metadata().get("authorization") {
                Some(value) => Some(value.to_str().map_err(|_| {
                    Status::unauthenticated("the authorization header is not text")
                })?),
                None => None,
            };
        self.auth
            .user(header)
            .map_err(|refusal| Status::unauthenticated(refusal.to_string()))
    }

    /// Authenticates a request and finds its session.
    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let connection = Self::connection(request)?;
        let user = self.user(request)?;
        let session = connection.session(&user);
        let busy = connection.busy();
        Ok(Caller {
            connection,
            session,
            busy,
        })
    }

    /// Runs `work` within the statement timeout, a panic in it failing this statement only.
    async fn within<T>(
        &self,
        started: Instant,
        work: impl Future<Output = Result<T, CanonError>>,
    ) -> Result<T, Status> {
        bounded(started, self.statement_timeout, work)
            .await
            .map_err(|cut| match cut {
                Cut::Failed(e) => status(e),
                Cut::TimedOut(limit) => timed_out(limit),
            })
    }

    /// The FlightInfo of a planned statement, whose ticket its connection keeps.
    fn planned(
        &self,
        caller: &Caller,
        df: canon::datafusion::dataframe::DataFrame,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = df.schema().as_arrow().clone();
        let handle = caller.connection.park(df);
        let ticket = TicketStatementQuery {
            statement_handle: handle.to_be_bytes().to_vec().into(),
        };
        let endpoint =
            FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(arrow_status)?
            .with_endpoint(endpoint)
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// Streams a statement's batches, within the statement timeout counted from `started`.
    fn stream(
        &self,
        batches: SendableRecordBatchStream,
        started: Instant,
        busy: Busy,
    ) -> Response<DoGetStream> {
        let schema = batches.schema();
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches.map_err(|e| FlightError::from(ArrowError::from(e))))
            .map_err(Status::from)
            .boxed();
        let mut limited = Limited::new(flight, busy);
        if let Some(limit) = self.statement_timeout {
            limited = limited.with_deadline(started + limit, Err(timed_out(limit)));
        }
        Response::new(Box::pin(limited))
    }

    /// The FlightInfo of a metadata command: its ticket is the command itself.
    fn metadata_info(
        command: impl ProstMessageExt,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(arrow_status)?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// One metadata batch as a result stream.
    fn batch(
        batch: Result<RecordBatch, FlightError>,
        busy: Busy,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = batch.map_err(Status::from)?;
        let schema = batch.schema();
        let batches = RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            futures::stream::iter([Ok::<_, DataFusionError>(batch)]),
        );
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches.map_err(|e| FlightError::from(ArrowError::from(e))))
            .map_err(Status::from)
            .boxed();
        Ok(Response::new(Box::pin(Limited::new(flight, busy))))
    }

    /// Runs a statement that returns a row count (DML, DDL) and returns the count.
    async fn update(&self, caller: &Caller, sql: &str) -> Result<i64, Status> {
        let started = Instant::now();
        let batches = self
            .within(started, async {
                let df = caller.session.sql(sql).await?;
                Ok(df.collect().await?)
            })
            .await?;
        Ok(row_count(&batches))
    }
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    /// Basic authentication: any user name, the shared secret as password. The answer
    /// carries a bearer token for the calls that follow.
    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let connection = Self::connection(&request)?;
        let user = self.user(&request)?;
        let token = self.auth.issue(&user);
        connection.session(&user);
        let answer = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into_bytes().into(),
        };
        let stream: HandshakeStream = Box::pin(futures::stream::iter([Ok(answer)]));
        let mut response = Response::new(stream);
        let bearer = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("token is not a header value"))?;
        response.metadata_mut().insert("authorization", bearer);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request)?;
        let df = self
            .within(Instant::now(), caller.session.sql(&query.query))
            .await?;
        self.planned(&caller, df, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let handle = <[u8; 8]>::try_from(ticket.statement_handle.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| Status::invalid_argument("statement ticket is not Canon's"))?;
        let df = caller.connection.redeem(handle).ok_or_else(|| {
            Status::not_found(
                "no such statement: a ticket is redeemed once, on the connection that planned it",
            )
        })?;
        let started = Instant::now();
        let batches = self
            .within(started, async {
                Ok(contained_stream(df.execute_stream().await?))
            })
            .await?;
        Ok(self.stream(batches, started, caller.busy))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let caller = self.caller(&request)?;
        self.update(&caller, &command.query).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let caller = self.caller(&request)?;
        let sql = query.query.trim().trim_end_matches(';');
        let started = Instant::now();
        let (dataset_schema, _) = self.within(started, caller.session.describe(sql)).await?;
        let name = caller.connection.prepared_name();
        let prepare = format!("PREPARE {name} AS {sql}");
        let prepared = self
            .within(started, async {
                caller.session.sql(&prepare).await?;
                caller.session.parameters(&name).await
            })
            .await;
        let parameters = match prepared {
            Ok(parameters) => parameters,
            Err(e) => {
                caller.connection.forget(&name);
                return Err(e);
            }
        };
        let fields: Vec<Field> = parameters
            .iter()
            .map(|p| Field::new(&p.name, p.data_type.clone().unwrap_or(DataType::Null), true))
            .collect();
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: name.into_bytes().into(),
            dataset_schema: schema_bytes(&dataset_schema)?,
            parameter_schema: schema_bytes(&Schema::new(fields))?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let caller = self.caller(&request)?;
        let name = handle_name(&query.prepared_statement_handle)?;
        let mut rows = parameter_rows(request.into_inner()).await?;
        let values = match rows.len() {
            0 => Vec::new(),
            1 => rows.remove(0),
            n => {
                return Err(Status::invalid_argument(format!(
                    "a prepared query binds one row of parameters at a time; {n} were sent"
                )));
            }
        };
        if !caller.connection.bind(&name, values) {
            return Err(Status::not_found(format!(
                "no prepared statement {name} on this connection"
            )));
        }
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request)?;
        let name = handle_name(&query.prepared_statement_handle)?;
        let values = caller.connection.bound(&name).ok_or_else(|| {
            Status::not_found(format!("no prepared statement {name} on this connection"))
        })?;
        let df = self
            .within(Instant::now(), caller.session.execute(&name, values))
            .await?;
        self.planned(&caller, df, request.into_inner())
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let caller = self.caller(&request)?;
        let name = handle_name(&query.prepared_statement_handle)?;
        let Some(bound) = caller.connection.bound(&name) else {
            return Err(Status::not_found(format!(
                "no prepared statement {name} on this connection"
            )));
        };
        let mut rows = parameter_rows(request.into_inner()).await?;
        if rows.is_empty() {
            rows.push(bound);
        }
        let started = Instant::now();
        let mut total = 0i64;
        for values in rows {
            let batches = self
                .within(started, async {
                    let df = caller.session.execute(&name, values).await?;
                    Ok(df.collect().await?)
                })
                .await?;
            total = total.saturating_add(row_count(&batches));
        }
        Ok(total)
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let caller = self.caller(&request)?;
        let name = handle_name(&query.prepared_statement_handle)?;
        if caller.connection.forget(&name) {
            self.update(&caller, &format!("DEALLOCATE {name}")).await?;
        }
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        Self::metadata_info(query, &metadata::PRIMARY_KEYS_SCHEMA, request.into_inner())
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let info = metadata::SQL_INFO
            .as_ref()
            .map_err(|e| Status::internal(e.to_string()))?;
        let schema = query.clone().into_builder(info).schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let info = metadata::XDBC_INFO
            .as_ref()
            .map_err(|e| Status::internal(e.to_string()))?;
        let schema = query.into_builder(info).schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let tables = caller.session.tables().await.map_err(status)?;
        Self::batch(metadata::catalogs(query, &tables), caller.busy)
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let tables = caller.session.tables().await.map_err(status)?;
        Self::batch(metadata::schemas(query, &tables), caller.busy)
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let tables = caller.session.tables().await.map_err(status)?;
        Self::batch(metadata::tables(query, &tables), caller.busy)
    }

    async fn do_get_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let tables = caller.session.tables().await.map_err(status)?;
        Self::batch(metadata::primary_keys(&query, &tables), caller.busy)
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        Self::batch(metadata::table_types(query), caller.busy)
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let info = metadata::SQL_INFO
            .as_ref()
            .map_err(|e| Status::internal(e.to_string()))?;
        Self::batch(query.into_builder(info).build(), caller.busy)
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let info = metadata::XDBC_INFO
            .as_ref()
            .map_err(|e| Status::internal(e.to_string()))?;
        Self::batch(query.into_builder(info).build(), caller.busy)
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
