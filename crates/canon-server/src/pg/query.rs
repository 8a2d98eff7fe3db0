//! Postgres queries on a connection's Canon session: the simple protocol statement by
//! statement, and the extended one (Parse, Bind, Describe, Execute), whose parameters are
//! bound through Canon's prepared statements; `COPY … TO STDOUT` answers with COPY data.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_pg::datatypes::df::deserialize_parameters;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, into_pg_type};
use async_trait::async_trait;
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use canon::datafusion::common::ParamValues;
use canon::datafusion::dataframe::DataFrame;
use canon::session::rows_affected;
use canon::{CanonError, Session};
use futures::{Sink, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tokio::time::Instant;

use crate::connection::Connection;
use crate::contain::contained_stream;
use crate::error::Fault;
use crate::stream::{Cut, Limited, bounded};

use super::catalog;
use super::copy::{self, CopyFormat, CopyOut};

/// One Postgres connection: its Canon connection and the server's statement timeout.
pub struct PgConnection {
    connection: Arc<Connection>,
    statement_timeout: Option<Duration>,
    /// Writes since the client's BEGIN: Canon commits each statement as it runs, so a
    /// ROLLBACK after one cannot be honoured and is refused.
    written_since_begin: Mutex<u64>,
    /// Whether the session has its `pg_catalog` yet (given on first use).
    catalog_installed: Mutex<bool>,
}

/// A parsed statement of the extended protocol.
#[derive(Clone, Debug)]
pub struct PgStatement {
    sql: String,
    kind: Kind,
    /// The name of Canon's prepared statement, when the statement takes parameters.
    prepared: Option<String>,
    columns: SchemaRef,
    parameters: Vec<Option<DataType>>,
    /// How a `COPY … TO STDOUT` writes the rows of `sql`, its query.
    copy: Option<CopyOut>,
}

/// What a statement answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Rows (queries, EXPLAIN, SHOW).
    Rows,
    /// A row count under this tag (INSERT, UPDATE, DELETE, MERGE, COPY).
    Count(&'static str),
    /// Only its tag.
    Done(&'static str),
    /// Answered by the protocol layer, never run: transaction control and the settings
    /// Postgres clients send for themselves.
    Protocol(&'static str),
}

impl PgConnection {
    /// The Postgres side of `connection`.
    pub fn new(connection: Arc<Connection>, statement_timeout: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            connection,
            statement_timeout,
            written_since_begin: Mutex::new(0),
            catalog_installed: Mutex::new(false),
        })
    }

    /// The connection's session, made for the client's user on first use and given a
    /// `pg_catalog` then.
    fn session<C: ClientInfo>(&self, client: &C) -> PgWireResult<Session> {
        if self.connection.refused() {
            return Err(user_error(
                "53300",
                format!(
                    "the server already has its maximum of {} connections; try again later",
                    self.connection.limit()
                ),
            ));
        }
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let session = self.connection.session(&user);
        let mut installed = self
            .catalog_installed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !*installed {
            catalog::install(&session, &user).map_err(pg_error)?;
            *installed = true;
        }
        Ok(session)
    }

    /// Runs `work` within the statement timeout counted from `started`, a panic in it
    /// failing this statement only.
    async fn within<T>(
        &self,
        started: Instant,
        work: impl Future<Output = Result<T, CanonError>>,
    ) -> PgWireResult<T> {
        bounded(started, self.statement_timeout, work)
            .await
            .map_err(|cut| match cut {
                Cut::Failed(e) => pg_error(e),
                Cut::TimedOut(limit) => timed_out(limit),
            })
    }

    /// Answers a protocol-level statement.
    fn protocol(&self, tag: &'static str) -> PgWireResult<Response> {
        let mut written = self
            .written_since_begin
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match tag {
            "BEGIN" | "COMMIT" => *written = 0,
            "ROLLBACK" if *written > 0 => {
                let message = format!(
                    "cannot roll back: Canon commits each statement as it runs, and {} \
                     statement(s) since BEGIN have been committed",
                    *written
                );
                *written = 0;
                return Err(user_error("25000", message));
            }
            "ROLLBACK" => {}
            _ => {}
        }
        Ok(Response::Execution(Tag::new(tag)))
    }

    /// Runs a planned statement's DataFrame and answers as its kind asks.
    async fn respond(
        &self,
        df: DataFrame,
        kind: Kind,
        format: &Format,
        started: Instant,
    ) -> PgWireResult<Response> {
        match kind {
            Kind::Rows => self.rows(df, format, started).await,
            Kind::Count(tag) => {
                let batches = self
                    .within(started, async { Ok(df.collect().await?) })
                    .await?;
                *self
                    .written_since_begin
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) += 1;
                let rows = usize::try_from(rows_affected(&batches)).unwrap_or(usize::MAX);
                let tag = match tag {
                    "INSERT" => Tag::new(tag).with_oid(0).with_rows(rows),
                    _ => Tag::new(tag).with_rows(rows),
                };
                Ok(Response::Execution(tag))
            }
            Kind::Done(tag) | Kind::Protocol(tag) => {
                self.within(started, async { Ok(df.collect().await?) })
                    .await?;
                Ok(Response::Execution(Tag::new(tag)))
            }
        }
    }

    /// Streams a query's rows, encoded batch by batch, within the statement timeout.
    async fn rows(
        &self,
        df: DataFrame,
        format: &Format,
        started: Instant,
    ) -> PgWireResult<Response> {
        let fields = Arc::new(arrow_schema_to_pg_fields(
            df.schema().as_arrow(),
            format,
            None,
        )?);
        let limited = self.batches(df, started).await?;
        let encoding = Arc::clone(&fields);
        let mut buffer = bytes::BytesMut::new();
        let rows = limited
            .flat_map(move |batch| {
                let encoded =
                    batch.and_then(|batch| super::rows::encode(&encoding, &batch, &mut buffer));
                // Rows go out as they are, without a second vector of results per batch.
                let (rows, failed) = match encoded {
                    Ok(rows) => (rows, None),
                    Err(e) => (Vec::new(), Some(e)),
                };
                futures::stream::iter(rows.into_iter().map(Ok).chain(failed.map(Err)))
            })
            .boxed();
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    /// Streams a `COPY … TO STDOUT`'s rows as COPY data, within the statement timeout.
    async fn copy_out(
        &self,
        df: DataFrame,
        format: &CopyFormat,
        started: Instant,
    ) -> PgWireResult<Response> {
        let schema = Arc::clone(df.schema().inner());
        let batches = self.batches(df, started).await?;
        copy::response(format, &schema, batches)
    }

    /// The batches of `df` under the connection limit and the statement timeout.
    async fn batches(
        &self,
        df: DataFrame,
        started: Instant,
    ) -> PgWireResult<impl futures::Stream<Item = PgWireResult<RecordBatch>> + Send + Unpin + 'static>
    {
        let batches = self
            .within(started, async {
                Ok(contained_stream(df.execute_stream().await?))
            })
            .await?;
        // The limits apply batch by batch: a row's worth of timer polling for every row
        // would cost more than encoding it.
        let batches = batches.map(|batch| batch.map_err(|e| pg_error(CanonError::from(e))));
        let mut limited = Limited::new(batches, self.connection.busy());
        if let Some(limit) = self.statement_timeout {
            limited = limited.with_deadline(started + limit, Err(timed_out(limit)));
        }
        Ok(limited)
    }
}

/// The handlers of one connection.
pub struct PgQueries {
    conn: Arc<PgConnection>,
    parser: Arc<PgParser>,
}

impl PgQueries {
    /// The query handlers of `conn`.
    pub fn new(conn: Arc<PgConnection>) -> Self {
        let parser = Arc::new(PgParser {
            conn: Arc::clone(&conn),
        });
        Self { conn, parser }
    }
}

/// Parses extended-protocol statements: plans them under the policy, and prepares those
/// with parameters as Canon prepared statements.
pub struct PgParser {
    conn: Arc<PgConnection>,
}

#[async_trait]
impl SimpleQueryHandler for PgQueries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.conn.session(client)?;
        let _busy = self.conn.connection.busy();
        if let Some(copy) = CopyOut::parse(query)? {
            let started = Instant::now();
            let sql = catalog::rewrite(&copy.query, &session);
            let df = self.conn.within(started, session.sql(&sql)).await?;
            return Ok(vec![self.conn.copy_out(df, &copy.format, started).await?]);
        }
        let statements = session
            .parse(&catalog::rewrite(query, &session))
            .map_err(pg_error)?;
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            let text = statement.to_string();
            let kind = kind_of(&text);
            if let Kind::Protocol(tag) = kind {
                responses.push(self.conn.protocol(tag)?);
                continue;
            }
            let started = Instant::now();
            let df = self
                .conn
                .within(started, session.statement(statement))
                .await?;
            let response = self
                .conn
                .respond(df, kind, &Format::UnifiedText, started)
                .await?;
            responses.push(response);
        }
        Ok(responses)
    }
}

#[async_trait]
impl QueryParser for PgParser {
    type Statement = PgStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<PgStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let sql = sql.trim().trim_end_matches(';').trim();
        if sql.is_empty() {
            return Ok(None);
        }
        let kind = kind_of(sql);
        let empty = Arc::new(Schema::empty());
        if let Kind::Protocol(_) = kind {
            return Ok(Some(PgStatement {
                sql: sql.to_string(),
                kind,
                prepared: None,
                columns: empty,
                parameters: Vec::new(),
                copy: None,
            }));
        }
        let session = self.conn.session(client)?;
        if let Some(copy) = CopyOut::parse(sql)? {
            // Described like any query, for its errors and the policy; a COPY answers
            // with COPY data, never with a row description.
            let query = catalog::rewrite(&copy.query, &session).into_owned();
            let _busy = self.conn.connection.busy();
            let (_, parameters) = self
                .conn
                .within(Instant::now(), session.describe(&query))
                .await?;
            if !parameters.is_empty() {
                return Err(user_error(
                    "42P02",
                    "COPY takes no parameters: write the values into its query".into(),
                ));
            }
            return Ok(Some(PgStatement {
                sql: query,
                kind: Kind::Count("COPY"),
                prepared: None,
                columns: empty,
                parameters: Vec::new(),
                copy: Some(copy),
            }));
        }
        let sql = catalog::rewrite(sql, &session).into_owned();
        let _busy = self.conn.connection.busy();
        let started = Instant::now();
        let (columns, parameters) = self.conn.within(started, session.describe(&sql)).await?;
        let prepared = if parameters.is_empty() {
            None
        } else {
            let name = self.conn.connection.prepared_name();
            let prepare = format!("PREPARE {name} AS {sql}");
            if let Err(e) = self.conn.within(started, session.sql(&prepare)).await {
                self.conn.connection.forget(&name);
                return Err(e);
            }
            Some(name)
        };
        let columns = if kind == Kind::Rows { columns } else { empty };
        Ok(Some(PgStatement {
            sql,
            kind,
            prepared,
            columns,
            parameters: parameters.into_iter().map(|p| p.data_type).collect(),
            copy: None,
        }))
    }

    fn get_parameter_types(&self, statement: &PgStatement) -> PgWireResult<Vec<Type>> {
        statement
            .parameters
            .iter()
            .map(|t| match t {
                Some(t) => into_pg_type(t),
                None => Ok(Type::UNKNOWN),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        statement: &PgStatement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        arrow_schema_to_pg_fields(
            &statement.columns,
            format.unwrap_or(&Format::UnifiedText),
            None,
        )
    }
}

#[async_trait]
impl ExtendedQueryHandler for PgQueries {
    type Statement = PgStatement;
    type QueryParser = PgParser;

    fn query_parser(&self) -> Arc<PgParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<PgStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = &portal.statement.statement;
        if let Kind::Protocol(tag) = statement.kind {
            return self.conn.protocol(tag);
        }
        let session = self.conn.session(client)?;
        let _busy = self.conn.connection.busy();
        let started = Instant::now();
        let df = match &statement.prepared {
            Some(name) => {
                let types: Vec<Option<&DataType>> =
                    statement.parameters.iter().map(Option::as_ref).collect();
                let values = match deserialize_parameters(portal, &types)? {
                    ParamValues::List(values) => values.into_iter().map(|v| v.value).collect(),
                    ParamValues::Map(_) => {
                        return Err(user_error(
                            "42P02",
                            "named parameters are not supported".into(),
                        ));
                    }
                };
                self.conn
                    .within(started, session.execute(name, values))
                    .await?
            }
            None => {
                self.conn
                    .within(started, session.sql(&statement.sql))
                    .await?
            }
        };
        if let Some(copy) = &statement.copy {
            return self.conn.copy_out(df, &copy.format, started).await;
        }
        self.conn
            .respond(df, statement.kind, &portal.result_column_format, started)
            .await
    }
}

/// What a statement answers with, from its leading keywords.
fn kind_of(sql: &str) -> Kind {
    let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
    let first = words.next().unwrap_or_default();
    match first.as_str() {
        "SELECT" | "WITH" | "VALUES" | "TABLE" | "EXPLAIN" | "SHOW" | "DESCRIBE" | "EXECUTE" => {
            Kind::Rows
        }
        "INSERT" => Kind::Count("INSERT"),
        "UPDATE" => Kind::Count("UPDATE"),
        "DELETE" => Kind::Count("DELETE"),
        "MERGE" => Kind::Count("MERGE"),
        "COPY" => Kind::Count("COPY"),
        "BEGIN" | "START" => Kind::Protocol("BEGIN"),
        "COMMIT" | "END" => Kind::Protocol("COMMIT"),
        "ROLLBACK" | "ABORT" => Kind::Protocol("ROLLBACK"),
        // Settings of DataFusion go to the session, under the policy; the rest are the
        // client's own (extra_float_digits, application_name, DateStyle, …).
        "SET" | "RESET" => {
            let name = words.next().unwrap_or_default().to_ascii_lowercase();
            let engine = name.starts_with("datafusion.") || name.starts_with("timezone");
            match (engine, first.as_str()) {
                (true, "SET") => Kind::Done("SET"),
                (true, _) => Kind::Done("RESET"),
                (false, "SET") => Kind::Protocol("SET"),
                (false, _) => Kind::Protocol("RESET"),
            }
        }
        "CREATE" => Kind::Done(object_tag("CREATE", words)),
        "DROP" => Kind::Done(object_tag("DROP", words)),
        "PREPARE" => Kind::Done("PREPARE"),
        "DEALLOCATE" => Kind::Done("DEALLOCATE"),
        _ => Kind::Done("OK"),
    }
}

/// `CREATE TABLE`, `DROP VIEW`, …: the verb and the kind of object, as Postgres tags them.
fn object_tag(verb: &'static str, words: impl Iterator<Item = String>) -> &'static str {
    for word in words.take(4) {
        return match (verb, word.as_str()) {
            ("CREATE", "TABLE") => "CREATE TABLE",
            ("CREATE", "VIEW") => "CREATE VIEW",
            ("CREATE", "FUNCTION") => "CREATE FUNCTION",
            ("CREATE", "SCHEMA") => "CREATE SCHEMA",
            ("DROP", "TABLE") => "DROP TABLE",
            ("DROP", "VIEW") => "DROP VIEW",
            ("DROP", "FUNCTION") => "DROP FUNCTION",
            ("DROP", "SCHEMA") => "DROP SCHEMA",
            (_, "OR" | "REPLACE" | "EXTERNAL" | "TEMPORARY" | "TEMP" | "UNBOUNDED") => continue,
            _ => verb,
        };
    }
    verb
}

/// An error for the client, with its SQLSTATE.
fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

/// A Canon error as Postgres reports it: the policy's refusals as insufficient privilege,
/// bad SQL as syntax errors, the rest as internal errors.
fn pg_error(error: CanonError) -> PgWireError {
    let code = match Fault::of(&error) {
        Fault::Refused => "42501",
        Fault::Syntax => "42601",
        Fault::Plan => "42000",
        Fault::Exhausted => "53200",
        Fault::Server => "XX000",
    };
    user_error(code, error.to_string())
}

fn timed_out(limit: Duration) -> PgWireError {
    user_error(
        "57014",
        format!(
            "canceling statement: it ran past the server's statement timeout of {}",
            humantime::format_duration(limit)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_tags() {
        assert_eq!(kind_of("select 1"), Kind::Rows);
        assert_eq!(kind_of("INSERT INTO t VALUES (1)"), Kind::Count("INSERT"));
        assert_eq!(kind_of("begin"), Kind::Protocol("BEGIN"));
        assert_eq!(kind_of("SET extra_float_digits = 3"), Kind::Protocol("SET"));
        assert_eq!(
            kind_of("SET datafusion.execution.batch_size = 1"),
            Kind::Done("SET")
        );
        assert_eq!(
            kind_of("CREATE OR REPLACE VIEW v AS SELECT 1"),
            Kind::Done("CREATE VIEW")
        );
        assert_eq!(
            kind_of("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'x'"),
            Kind::Done("CREATE TABLE")
        );
    }
}
