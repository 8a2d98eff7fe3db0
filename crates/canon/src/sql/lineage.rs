//! Column lineage: the tables a plan reads and, for each output column, the base table
//! columns its value is computed from and how (copied, transformed, aggregated).
//!
//! The walk resolves each output column through the plan's operators down to table scans:
//! projections, aggregates and window functions contribute the columns their expressions
//! reference (window partitioning and ordering included, as they shape the value); joins,
//! unions, aliases, CTEs and subqueries pass columns through. Columns that only select,
//! group or order rows (filter predicates, join keys, grouping keys, sort keys) are the
//! plan's influences, apart from any output column's sources; their tables are among the
//! tables read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::catalog::cte_worktable::CteWorkTable;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, JoinType, TableReference};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{Distinct, Expr, LogicalPlan, TableScan};

pub use canon_model::lineage::{ColumnLineage, Direct, Influence, Lineage, SourceColumn};

/// The lineage of a logical plan as a session with `options` records it: tables in its
/// default catalog and schema are named by their bare name.
pub fn in_session(plan: &LogicalPlan, options: &ConfigOptions) -> Lineage {
    let catalog = &options.catalog;
    of(plan, &catalog.default_catalog, &catalog.default_schema)
}

/// The lineage of a logical plan; tables in `default_catalog.default_schema` are named
/// by their bare name.
pub fn of(plan: &LogicalPlan, default_catalog: &str, default_schema: &str) -> Lineage {
    let mut walker = Walker {
        catalog: default_catalog,
        schema: default_schema,
        work_tables: HashMap::new(),
        influences: BTreeMap::new(),
    };
    let sources = walker.plan(plan);
    let columns = plan
        .schema()
        .fields()
        .iter()
        .zip(sources)
        .map(|(field, sources)| ColumnLineage {
            name: field.name().clone(),
            sources: sources.keys().cloned().collect(),
            kinds: sources,
        })
        .collect();
    let mut tables = BTreeSet::new();
    // The closure never fails; the result carries nothing else.
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && !is_work_table(scan)
        {
            tables.insert(walker.label(&scan.table_name));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    Lineage {
        tables: tables.into_iter().collect(),
        columns,
        influences: walker.influences,
    }
}

/// An output column's source columns, each with how its value comes from it.
type Sources = BTreeMap<SourceColumn, Direct>;

/// How many times a recursive CTE's term is re-walked to let sources flow around the loop;
/// each pass can only add sources, and real CTEs settle in one or two.
const RECURSION_PASSES: usize = 8;

struct Walker<'a> {
    catalog: &'a str,
    schema: &'a str,
    /// The sources of each recursive CTE's columns, while its recursive term is walked.
    work_tables: HashMap<String, Vec<Sources>>,
    /// The columns that select, group or order rows, as the walk meets them.
    influences: BTreeMap<SourceColumn, BTreeSet<Influence>>,
}

impl Walker<'_> {
    /// The sources of each of the plan's output columns, in schema order.
    fn plan(&mut self, plan: &LogicalPlan) -> Vec<Sources> {
        let width = plan.schema().fields().len();
        let sources = match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::Projection(p) => self.exprs(&p.expr, &p.input),
            LogicalPlan::Aggregate(a) => {
                let input = self.plan(&a.input);
                let groups: Vec<&Expr> = a
                    .group_expr
                    .iter()
                    .flat_map(|e| match e {
                        Expr::GroupingSet(set) => set.distinct_expr(),
                        e => vec![e],
                    })
                    .collect();
                let mut out: Vec<Sources> = groups
                    .iter()
                    .map(|e| self.value(e, a.input.schema(), &input))
                    .collect();
                for key in &out {
                    self.influenced(key, Influence::Group);
                }
                // Grouping sets add an internal grouping id between keys and aggregates.
                let internal = width.saturating_sub(groups.len() + a.aggr_expr.len());
                out.extend(std::iter::repeat_n(Sources::new(), internal));
                for e in &a.aggr_expr {
                    let sources = self.expr(e, a.input.schema(), &input);
                    out.push(at_least(sources, Direct::Aggregated));
                }
                out
            }
            LogicalPlan::Window(w) => {
                let mut out = self.plan(&w.input);
                let input = out.clone();
                for e in &w.window_expr {
                    if let Expr::WindowFunction(f) = e.clone().unalias_nested().data {
                        let shaping = f
                            .params
                            .partition_by
                            .iter()
                            .chain(f.params.order_by.iter().map(|sort| &sort.expr));
                        for by in shaping {
                            let sources = self.expr(by, w.input.schema(), &input);
                            self.influenced(&sources, Influence::Window);
                        }
                    }
                    let sources = self.expr(e, w.input.schema(), &input);
                    out.push(at_least(sources, Direct::Aggregated));
                }
                out
            }
            LogicalPlan::Join(j) => {
                let mut left = self.plan(&j.left);
                let mut right = self.plan(&j.right);
                for (l, r) in &j.on {
                    let l = self.expr(l, j.left.schema(), &left);
                    let r = self.expr(r, j.right.schema(), &right);
                    self.influenced(&l, Influence::Join);
                    self.influenced(&r, Influence::Join);
                }
                if let Some(filter) = &j.filter {
                    let both: Vec<Sources> = left.iter().chain(&right).cloned().collect();
                    let schema = j.left.schema().join(j.right.schema());
                    if let Ok(schema) = schema {
                        let sources = self.expr(filter, &schema, &both);
                        self.influenced(&sources, Influence::Join);
                    }
                }
                match j.join_type {
                    JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                        left.append(&mut right);
                        left
                    }
                    JoinType::LeftSemi | JoinType::LeftAnti => left,
                    JoinType::RightSemi | JoinType::RightAnti => right,
                    // The mark column says whether a match exists; it has no sources.
                    JoinType::LeftMark => {
                        left.push(Sources::new());
                        left
                    }
                    JoinType::RightMark => {
                        right.push(Sources::new());
                        right
                    }
                }
            }
            LogicalPlan::Union(u) => {
                let inputs: Vec<Vec<Sources>> = u.inputs.iter().map(|i| self.plan(i)).collect();
                (0..width)
                    .map(|i| {
                        inputs
                            .iter()
                            .filter_map(|s| s.get(i))
                            .fold(Sources::new(), |all, s| union(&all, s))
                    })
                    .collect()
            }
            LogicalPlan::RecursiveQuery(r) => {
                let mut sources = self.plan(&r.static_term);
                let outer = self.work_tables.remove(&r.name);
                for _ in 0..RECURSION_PASSES {
                    self.work_tables.insert(r.name.clone(), sources.clone());
                    let recursive = self.plan(&r.recursive_term);
                    let merged = merge(&sources, &recursive);
                    if merged == sources {
                        break;
                    }
                    sources = merged;
                }
                self.work_tables.remove(&r.name);
                if let Some(outer) = outer {
                    self.work_tables.insert(r.name.clone(), outer);
                }
                sources
            }
            LogicalPlan::Distinct(Distinct::On(on)) => self.exprs(&on.select_expr, &on.input),
            LogicalPlan::Filter(f) => {
                let input = self.plan(&f.input);
                let sources = self.expr(&f.predicate, f.input.schema(), &input);
                self.influenced(&sources, Influence::Filter);
                input
            }
            LogicalPlan::Sort(sort) => {
                let input = self.plan(&sort.input);
                for by in &sort.expr {
                    let sources = self.expr(&by.expr, sort.input.schema(), &input);
                    self.influenced(&sources, Influence::Sort);
                }
                input
            }
            LogicalPlan::Limit(_)
            | LogicalPlan::Repartition(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Subquery(_)
            | LogicalPlan::Distinct(Distinct::All(_)) => match plan.inputs().first() {
                Some(input) => self.plan(input),
                None => Vec::new(),
            },
            // Plans about plans, row counts of writes, and constants: no column has sources.
            LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Values(_)
            | LogicalPlan::EmptyRelation(_) => vec![Sources::new(); width],
            LogicalPlan::Unnest(_) | LogicalPlan::Extension(_) => self.by_name(plan),
        };
        if sources.len() == width {
            sources
        } else {
            self.by_name(plan)
        }
    }

    fn scan(&mut self, scan: &TableScan) -> Vec<Sources> {
        if is_work_table(scan)
            && let Some(columns) = self.work_tables.get(scan.table_name.table())
        {
            return match &scan.projection {
                Some(indices) => indices
                    .iter()
                    .map(|&i| columns.get(i).cloned().unwrap_or_default())
                    .collect(),
                None => columns.clone(),
            };
        }
        let table = self.label(&scan.table_name);
        // Filters an optimized plan pushed into the scan select rows as a Filter would.
        for filter in &scan.filters {
            for column in filter.column_refs() {
                let column = SourceColumn {
                    table: table.clone(),
                    column: column.name.clone(),
                };
                self.influences
                    .entry(column)
                    .or_default()
                    .insert(Influence::Filter);
            }
        }
        scan.projected_schema
            .fields()
            .iter()
            .map(|field| {
                let column = SourceColumn {
                    table: table.clone(),
                    column: field.name().clone(),
                };
                Sources::from([(column, Direct::Copied)])
            })
            .collect()
    }

    fn exprs(&mut self, exprs: &[Expr], input: &LogicalPlan) -> Vec<Sources> {
        let sources = self.plan(input);
        exprs
            .iter()
            .map(|e| self.value(e, input.schema(), &sources))
            .collect()
    }

    /// The sources of a value: a column (renamed or not) keeps how its sources reach it;
    /// any other expression transforms them.
    fn value(&mut self, expr: &Expr, schema: &DFSchema, input: &[Sources]) -> Sources {
        let sources = self.expr(expr, schema, input);
        match expr.clone().unalias_nested().data {
            Expr::Column(_) => sources,
            _ => at_least(sources, Direct::Transformed),
        }
    }

    /// Records that these columns shape the plan's rows.
    fn influenced(&mut self, sources: &Sources, how: Influence) {
        for column in sources.keys() {
            self.influences
                .entry(column.clone())
                .or_default()
                .insert(how);
        }
    }

    /// The sources of an expression over an input with these column sources, as they reach
    /// the columns it references.
    fn expr(&mut self, expr: &Expr, schema: &DFSchema, input: &[Sources]) -> Sources {
        let mut out = Sources::new();
        for column in expr.column_refs() {
            if let Some(sources) = schema
                .maybe_index_of_column(column)
                .and_then(|i| input.get(i))
            {
                out = union(&out, sources);
            }
        }
        let mut subqueries: Vec<Arc<LogicalPlan>> = Vec::new();
        // The closure never fails; the result carries nothing else.
        let _ = expr.apply(|e| {
            if let Expr::ScalarSubquery(subquery) = e {
                subqueries.push(Arc::clone(&subquery.subquery));
            }
            Ok(TreeNodeRecursion::Continue)
        });
        for subquery in subqueries {
            for sources in self.plan(&subquery) {
                out = union(&out, &at_least(sources, Direct::Transformed));
            }
        }
        out
    }

    /// For operators the walk does not model: an output column that is also an input column
    /// keeps that column's sources; any other derives, conservatively, from every input column.
    fn by_name(&mut self, plan: &LogicalPlan) -> Vec<Sources> {
        let inputs: Vec<(&DFSchema, Vec<Sources>)> = plan
            .inputs()
            .into_iter()
            .map(|input| (input.schema().as_ref(), self.plan(input)))
            .collect();
        let everything = inputs
            .iter()
            .flat_map(|(_, sources)| sources.iter())
            .fold(Sources::new(), |all, s| union(&all, s));
        let everything = at_least(everything, Direct::Transformed);
        plan.schema()
            .iter()
            .map(|(qualifier, field)| {
                let column = Column::new(qualifier.cloned(), field.name());
                inputs
                    .iter()
                    .find_map(|(schema, sources)| {
                        schema
                            .maybe_index_of_column(&column)
                            .and_then(|i| sources.get(i).cloned())
                    })
                    .unwrap_or_else(|| everything.clone())
            })
            .collect()
    }

    /// A table's name, without the default catalog and schema.
    fn label(&self, table: &TableReference) -> String {
        label(table, self.catalog, self.schema)
    }
}

/// A table's name as lineage names it: without the session's default catalog and schema.
pub(crate) fn table_in_session(table: &TableReference, options: &ConfigOptions) -> String {
    let catalog = &options.catalog;
    label(table, &catalog.default_catalog, &catalog.default_schema)
}

fn label(table: &TableReference, default_catalog: &str, default_schema: &str) -> String {
    match table {
        TableReference::Bare { table } => table.to_string(),
        TableReference::Partial { schema, table } if schema.as_ref() == default_schema => {
            table.to_string()
        }
        TableReference::Partial { schema, table } => format!("{schema}.{table}"),
        TableReference::Full {
            catalog,
            schema,
            table,
        } => match (
            catalog.as_ref() == default_catalog,
            schema.as_ref() == default_schema,
        ) {
            (true, true) => table.to_string(),
            (true, false) => format!("{schema}.{table}"),
            _ => format!("{catalog}.{schema}.{table}"),
        },
    }
}

/// Column-wise union of two source lists of the same width.
fn merge(a: &[Sources], b: &[Sources]) -> Vec<Sources> {
    a.iter().zip(b).map(|(x, y)| union(x, y)).collect()
}

/// The sources of either, each reached the farthest way either reaches it.
fn union(a: &Sources, b: &Sources) -> Sources {
    let mut out = a.clone();
    for (column, how) in b {
        let kind = out.entry(column.clone()).or_insert(*how);
        *kind = (*kind).max(*how);
    }
    out
}

/// The sources, each reached at least as far as `how`.
fn at_least(sources: Sources, how: Direct) -> Sources {
    sources
        .into_iter()
        .map(|(column, kind)| (column, kind.max(how)))
        .collect()
}

/// Whether a scan reads a recursive CTE's work table rather than a table.
fn is_work_table(scan: &TableScan) -> bool {
    source_as_provider(&scan.source).is_ok_and(|p| p.is::<CteWorkTable>())
}
