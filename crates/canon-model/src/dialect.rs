//! SQL dialects: which parser reads SQL text, how unquoted identifiers are normalized, and
//! errors that name the construct a dialect cannot express instead of the token it tripped on.

use std::fmt;

use datafusion_common::DataFusionError;
use datafusion_common::config::Dialect as DialectName;
use datafusion_sql::parser::{DFParserBuilder, Statement};
use datafusion_sql::sqlparser::dialect::{Dialect, GenericDialect, dialect_from_str};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::ParserError;
use datafusion_sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
use serde::Serialize;

/// How unquoted identifiers are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierCase {
    /// Unquoted identifiers are lowercased (`SELECT Fare` reads column `fare`); DataFusion's default.
    #[default]
    Lower,
    /// Unquoted identifiers keep their case (`SELECT Fare` reads column `Fare`).
    Preserve,
}

impl IdentifierCase {
    /// The name used in `canon.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lower => "lower",
            Self::Preserve => "preserve",
        }
    }

    /// Parses the `canon.toml` name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "lower" => Some(Self::Lower),
            "preserve" => Some(Self::Preserve),
            _ => None,
        }
    }
}

impl fmt::Display for IdentifierCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The canonical name of a dialect DataFusion's parser knows (aliases such as `postgres`
/// resolve to `postgresql`), or an error listing the known ones.
pub fn canonical_dialect(name: &str) -> Result<&'static str, DataFusionError> {
    let dialect: DialectName = name.parse()?;
    Ok(DialectName::metadata()
        .iter()
        .find(|info| info.dialect == dialect)
        .map_or("generic", |info| info.canonical_name))
}

/// A construct that some dialects accept and the statement's dialect does not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {dialect} dialect cannot express {construct}, here: {snippet}{hint} \
     (dialects that can: {}; parser: {parser})",
    accepted_by.join(", ")
)]
pub struct UnsupportedSyntax {
    /// The dialect the SQL was parsed in.
    pub dialect: String,
    /// The construct, for people: "backtick-quoted identifiers", "FROM-first SELECT", ….
    pub construct: &'static str,
    /// Where it occurs in the SQL text.
    pub snippet: String,
    /// Canonical names of the dialects that accept the construct.
    pub accepted_by: Vec<&'static str>,
    /// How to write it in this dialect, when there is a way (starts with "; ").
    pub hint: String,
    /// The parser's own message.
    pub parser: String,
}

/// SQL text that does not parse in its dialect.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text uses a construct other dialects accept and this one does not.
    #[error(transparent)]
    Unsupported(Box<UnsupportedSyntax>),
    /// The parser's own error (or an unknown dialect).
    #[error(transparent)]
    Parse(#[from] DataFusionError),
}

/// Parses SQL text in a dialect. When the parser fails on a construct this dialect cannot
/// express but others can, the error names the construct.
pub fn parse(dialect: &str, sql: &str) -> Result<Vec<Statement>, SqlError> {
    parse_with_limit(dialect, sql, DEFAULT_RECURSION_LIMIT)
}

/// DataFusion's default for `datafusion.sql_parser.recursion_limit`: how deeply the parser
/// nests (parentheses, subqueries, expressions) before it refuses the statement.
pub const DEFAULT_RECURSION_LIMIT: usize = 50;

/// [`parse`], nesting at most `recursion_limit` deep: the session's
/// `datafusion.sql_parser.recursion_limit`, which Canon's parser reads as DataFusion's would.
pub fn parse_with_limit(
    dialect: &str,
    sql: &str,
    recursion_limit: usize,
) -> Result<Vec<Statement>, SqlError> {
    let parser_dialect = dialect_from_str(dialect).ok_or_else(|| {
        DataFusionError::Configuration(format!(
            "unknown SQL dialect `{dialect}`; expected one of {}",
            DialectName::available()
        ))
    })?;
    let parsed = DFParserBuilder::new(sql)
        .with_dialect(parser_dialect.as_ref())
        .with_recursion_limit(recursion_limit)
        .build()
        .and_then(|mut parser| parser.parse_statements());
    match parsed {
        Ok(statements) => Ok(statements.into_iter().collect()),
        Err(e) => Err(
            match unsupported(dialect, parser_dialect.as_ref(), sql, &e) {
                Some(syntax) => SqlError::Unsupported(Box::new(syntax)),
                None => SqlError::Parse(e),
            },
        ),
    }
}

/// A dialect-specific construct: how to spot it in tokens, and which dialects accept it.
struct Construct {
    name: &'static str,
    /// The token index where the construct starts, if the statement uses it.
    find: fn(&[Token]) -> Option<usize>,
    /// How many significant tokens from there show it.
    width: usize,
    accepts: fn(&dyn Dialect) -> bool,
    /// How to write the same thing in a dialect that does not accept it.
    hint: fn(&dyn Dialect) -> Option<String>,
}

const CONSTRUCTS: &[Construct] = &[
    Construct {
        name: "backtick-quoted identifiers",
        find: |tokens| {
            tokens.iter().position(|t| {
                matches!(
                    t,
                    Token::Word(Word {
                        quote_style: Some('`'),
                        ..
                    })
                )
            })
        },
        width: 1,
        accepts: |d| d.is_delimited_identifier_start('`'),
        hint: |d| {
            d.is_delimited_identifier_start('"')
                .then(|| "; quote identifiers with \"…\" instead".to_string())
        },
    },
    Construct {
        name: "`* EXCLUDE (…)` in the select list",
        find: |tokens| wildcard_option(tokens, Keyword::EXCLUDE),
        width: 3,
        accepts: |d| d.supports_select_wildcard_exclude(),
        hint: |d| {
            d.supports_select_wildcard_except()
                .then(|| "; write `* EXCEPT (…)` instead".to_string())
        },
    },
    Construct {
        name: "`* EXCEPT (…)` in the select list",
        find: |tokens| wildcard_option(tokens, Keyword::EXCEPT),
        width: 3,
        accepts: |d| d.supports_select_wildcard_except(),
        hint: |d| {
            d.supports_select_wildcard_exclude()
                .then(|| "; write `* EXCLUDE (…)` instead".to_string())
        },
    },
    Construct {
        name: "`* REPLACE (…)` in the select list",
        find: |tokens| wildcard_option(tokens, Keyword::REPLACE),
        width: 3,
        accepts: |d| d.supports_select_wildcard_replace(),
        hint: |_| None,
    },
    Construct {
        name: "`LIMIT offset, count`",
        find: |tokens| {
            let words = significant(tokens);
            words
                .windows(3)
                .find_map(|w| match (w[0].1, w[1].1, w[2].1) {
                    (Token::Word(word), Token::Number(..), Token::Comma)
                        if word.keyword == Keyword::LIMIT =>
                    {
                        Some(w[0].0)
                    }
                    _ => None,
                })
        },
        width: 4,
        accepts: |d| d.supports_limit_comma(),
        hint: |_| Some("; write `LIMIT count OFFSET offset` instead".to_string()),
    },
    Construct {
        name: "FROM-first SELECT (`FROM t SELECT …`)",
        find: |tokens| {
            let words = significant(tokens);
            match words.first() {
                Some((i, Token::Word(w))) if w.keyword == Keyword::FROM => Some(*i),
                _ => None,
            }
        },
        width: 2,
        accepts: |d| d.supports_from_first_select(),
        hint: |_| Some("; write `SELECT … FROM t` instead".to_string()),
    },
    Construct {
        name: "struct literals in braces (`{'key': value}`)",
        find: |tokens| tokens.iter().position(|t| matches!(t, Token::LBrace)),
        width: 1,
        accepts: |d| d.supports_dictionary_syntax(),
        hint: |_| Some("; write `named_struct('key', value)` instead".to_string()),
    },
    Construct {
        name: "`STRUCT(… AS name)` literals",
        find: |tokens| {
            let words = significant(tokens);
            words.windows(2).find_map(|w| match (w[0].1, w[1].1) {
                (Token::Word(word), Token::LParen) if word.keyword == Keyword::STRUCT => {
                    Some(w[0].0)
                }
                _ => None,
            })
        },
        width: 2,
        accepts: |d| d.supports_struct_literal(),
        hint: |_| Some("; write `named_struct('name', value, …)` instead".to_string()),
    },
];

/// The tokens that are not whitespace (comments included), with their positions.
fn significant(tokens: &[Token]) -> Vec<(usize, &Token)> {
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t, Token::Whitespace(_)))
        .collect()
}

/// Where `* <keyword> (` occurs.
fn wildcard_option(tokens: &[Token], keyword: Keyword) -> Option<usize> {
    let words = significant(tokens);
    words
        .windows(3)
        .find_map(|w| match (w[0].1, w[1].1, w[2].1) {
            (Token::Mul, Token::Word(word), Token::LParen) if word.keyword == keyword => {
                Some(w[0].0)
            }
            _ => None,
        })
}

/// The construct of `sql` that `dialect` cannot express, if the parse failed on one.
fn unsupported(
    name: &str,
    dialect: &dyn Dialect,
    sql: &str,
    error: &DataFusionError,
) -> Option<UnsupportedSyntax> {
    // The generic tokenizer reads every construct listed above.
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    CONSTRUCTS.iter().find_map(|construct| {
        let at = (construct.find)(&tokens)?;
        if (construct.accepts)(dialect) {
            return None;
        }
        let accepted_by = DialectName::metadata()
            .iter()
            .map(|info| info.canonical_name)
            .filter(|other| {
                dialect_from_str(*other).is_some_and(|d| (construct.accepts)(d.as_ref()))
            })
            .collect();
        Some(UnsupportedSyntax {
            dialect: canonical_dialect(name).unwrap_or("generic").to_string(),
            construct: construct.name,
            snippet: snippet(&tokens[at..], construct.width),
            accepted_by,
            hint: (construct.hint)(dialect).unwrap_or_default(),
            parser: parser_message(error),
        })
    })
}

/// The construct's first `width` significant tokens as SQL text, for the error message.
fn snippet(tokens: &[Token], width: usize) -> String {
    let significant = significant(tokens);
    let end = significant
        .get(width.saturating_sub(1))
        .map_or(tokens.len(), |(i, _)| i + 1);
    let text: String = tokens[..end].iter().map(ToString::to_string).collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parser's message without DataFusion's and sqlparser's wrappers around it.
fn parser_message(error: &DataFusionError) -> String {
    match error {
        DataFusionError::SQL(e, _) => match e.as_ref() {
            ParserError::ParserError(message) | ParserError::TokenizerError(message) => {
                message.clone()
            }
            other => other.to_string(),
        },
        other => other.strip_backtrace(),
    }
}

#[cfg(test)]
mod tests {
    use datafusion_common::config::ConfigOptions;

    /// The parser's default nesting is DataFusion's setting's default.
    #[test]
    fn default_recursion_limit_is_datafusions() {
        let options = ConfigOptions::new();
        assert_eq!(
            options.sql_parser.recursion_limit.get(),
            super::DEFAULT_RECURSION_LIMIT
        );
    }
}
