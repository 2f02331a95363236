//! The arguments of `#[netns_test(...)]`: parsed key by key into a [`Configuration`],
//! then turned into a [`FinalConfig`] with defaults filled in.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitInt, Path, Token};

/// Every key `#[netns_test(...)]` accepts, in the order they are listed in messages.
const KEYS: &[&str] = &["topology", "timeout", "keep_artifacts", "crate"];

/// The accepted spellings of a timeout, quoted in error messages.
const TIMEOUT_FORMS: &str =
    "a string like \"500ms\", \"30s\" or \"2m\", or an integer number of seconds like `30`";

/// The keys seen so far. Each setter validates its value and records it.
#[derive(Default)]
pub(crate) struct Configuration {
    topology: Option<Expr>,
    timeout_ms: Option<u64>,
    keep_artifacts: Option<bool>,
    crate_path: Option<Path>,
}

/// The configuration the expansion is generated from.
pub(crate) struct FinalConfig {
    /// The expression building the `Topology`.
    pub(crate) topology: TokenStream,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) keep_artifacts: bool,
    /// The path of the `netns_test` crate.
    pub(crate) krate: Path,
}

impl Configuration {
    fn set_topology(&mut self, value: Expr) -> syn::Result<()> {
        self.topology = Some(value);
        Ok(())
    }

    fn set_timeout(&mut self, value: &Expr) -> syn::Result<()> {
        self.timeout_ms = Some(parse_timeout(value)?);
        Ok(())
    }

    fn set_keep_artifacts(&mut self, value: &Expr) -> syn::Result<()> {
        match strip_groups(value) {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Bool(b), ..
            }) => {
                self.keep_artifacts = Some(b.value);
                Ok(())
            }
            other => Err(syn::Error::new_spanned(
                other,
                "`keep_artifacts` expects `true` or `false`",
            )),
        }
    }

    fn set_crate(&mut self, value: &Expr) -> syn::Result<()> {
        let Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) = strip_groups(value)
        else {
            return Err(syn::Error::new_spanned(
                value,
                "`crate` expects a string literal holding a path, like `crate = \"::netns_test\"`",
            ));
        };
        let path = lit.parse_with(Path::parse_mod_style).map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!(
                    "`crate` expects a path to the netns-test crate, like \"::netns_test\" or \
                     \"my_netns_test\", but {:?} is not a path",
                    lit.value()
                ),
            )
        })?;
        self.crate_path = Some(path);
        Ok(())
    }

    /// Fills in the defaults for the keys that were not given.
    pub(crate) fn build(self) -> FinalConfig {
        let krate = self
            .crate_path
            .unwrap_or_else(|| syn::parse_quote!(::netns_test));
        let topology = match self.topology {
            Some(expr) => expr.into_token_stream(),
            None => quote!(#krate::Topology::new()),
        };
        FinalConfig {
            topology,
            timeout_ms: self.timeout_ms,
            keep_artifacts: self.keep_artifacts.unwrap_or(false),
            krate,
        }
    }
}

/// One `key = value` of the attribute, as written.
enum Arg {
    /// `key = value`.
    Value(Path, Expr),
    /// `key =` with nothing after the `=` (the span is the `=`'s).
    Missing(Path, Token![=]),
    /// `key` or `key(...)`: no `=` at all (the tokens are the whole argument).
    NoValue(Path, TokenStream),
}

/// Parses `key = value, ...` without giving up at a missing value, so that it can be
/// reported at the `=` rather than at the whole attribute.
fn parse_arg_list(input: ParseStream<'_>) -> syn::Result<Vec<Arg>> {
    let mut args = Vec::new();
    while !input.is_empty() {
        let path = Path::parse_mod_style(input)?;
        let arg = if input.peek(Token![=]) {
            let eq: Token![=] = input.parse()?;
            if input.is_empty() || input.peek(Token![,]) {
                Arg::Missing(path, eq)
            } else {
                Arg::Value(path, input.parse()?)
            }
        } else if input.peek(syn::token::Paren) {
            let group: proc_macro2::Group = input.parse()?;
            Arg::NoValue(path.clone(), quote!(#path #group))
        } else {
            Arg::NoValue(path.clone(), path.to_token_stream())
        };
        args.push(arg);
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(args)
}

/// Parses the attribute's arguments. Returns the configuration built from every key that
/// was valid, and the errors of the others (all of them, combined), so that the function
/// can still be expanded while the errors are reported.
pub(crate) fn parse_args(args: TokenStream) -> (Configuration, Option<syn::Error>) {
    let mut config = Configuration::default();
    let args = match parse_arg_list.parse2(args) {
        Ok(args) => args,
        Err(e) => return (config, Some(e)),
    };
    let mut errors = Errors::default();
    let mut seen: Vec<String> = Vec::new();
    for arg in args {
        let path = match &arg {
            Arg::Value(path, _) | Arg::Missing(path, _) | Arg::NoValue(path, _) => path,
        };
        let Some(key) = path.get_ident().map(ToString::to_string) else {
            errors.push(unknown_key(path, &path_to_string(path)));
            continue;
        };
        if !KEYS.contains(&key.as_str()) {
            errors.push(unknown_key(path, &key));
            continue;
        }
        if seen.contains(&key) {
            errors.push(syn::Error::new_spanned(
                path,
                format!("`{key}` set more than once"),
            ));
            continue;
        }
        seen.push(key.clone());
        let value = match arg {
            Arg::Value(_, value) => value,
            Arg::Missing(_, eq) => {
                errors.push(syn::Error::new(
                    eq.span,
                    format!(
                        "`{key}` needs a value after `=`: write `{key} = {}`",
                        example(&key)
                    ),
                ));
                continue;
            }
            Arg::NoValue(_, tokens) => {
                errors.push(syn::Error::new_spanned(
                    tokens,
                    format!("`{key}` needs a value: write `{key} = {}`", example(&key)),
                ));
                continue;
            }
        };
        let result = match key.as_str() {
            "topology" => config.set_topology(value),
            "timeout" => config.set_timeout(&value),
            "keep_artifacts" => config.set_keep_artifacts(&value),
            "crate" => config.set_crate(&value),
            _ => unreachable!("every key of KEYS has a setter"),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    (config, errors.into_error())
}

/// A list of errors reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn extend(&mut self, error: Option<syn::Error>) {
        if let Some(error) = error {
            self.push(error);
        }
    }

    pub(crate) fn into_error(self) -> Option<syn::Error> {
        self.0
    }
}

fn unknown_key(path: &Path, key: &str) -> syn::Error {
    let quoted: Vec<String> = KEYS.iter().map(|k| format!("`{k}`")).collect();
    let (last, rest) = quoted.split_last().expect("KEYS is not empty");
    let mut message = format!(
        "unknown key `{key}`: `#[netns_test]` accepts {} and {last}",
        rest.join(", ")
    );
    if let Some(close) = KEYS.iter().find(|k| edit_distance(key, k) <= 2) {
        message.push_str(&format!(" (did you mean `{close}`?)"));
    }
    syn::Error::new_spanned(path, message)
}

/// Levenshtein distance, to suggest the key a typo was meant to be.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

fn example(key: &str) -> &'static str {
    match key {
        "topology" => "my_topology()",
        "timeout" => "\"30s\"",
        "keep_artifacts" => "true",
        _ => "\"::netns_test\"",
    }
}

fn path_to_string(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// Looks through the invisible groups `macro_rules!` wraps around `$e:expr` fragments.
fn strip_groups(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

/// Parses `timeout = "500ms" | "30s" | "2m" | 30` into milliseconds.
fn parse_timeout(value: &Expr) -> syn::Result<u64> {
    let (text, bare_seconds, span) = match strip_groups(value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => (lit.value(), false, lit.span()),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(lit), ..
        }) => {
            check_int_suffix(lit)?;
            (lit.base10_digits().to_string(), true, lit.span())
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(lit),
            ..
        }) => {
            return Err(syn::Error::new(
                lit.span(),
                "fractional seconds are not supported: write the timeout in milliseconds, \
                 like \"1500ms\"",
            ))
        }
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`timeout` expects {TIMEOUT_FORMS}"),
            ))
        }
    };
    match parse_duration_ms(&text, bare_seconds) {
        Ok(ms) => Ok(ms),
        Err(DurationError::Invalid) => Err(syn::Error::new(
            span,
            format!("invalid timeout {text:?}: expected {TIMEOUT_FORMS}"),
        )),
        Err(DurationError::Zero) => Err(syn::Error::new(
            value.span(),
            "the timeout must be greater than zero",
        )),
        Err(DurationError::TooLarge) => Err(syn::Error::new(
            span,
            "the timeout is too large: it must fit in a u64 number of milliseconds",
        )),
    }
}

fn check_int_suffix(lit: &LitInt) -> syn::Result<()> {
    match lit.suffix() {
        "" => Ok(()),
        "ms" | "s" | "m" => Err(syn::Error::new(
            lit.span(),
            format!("a timeout with a unit is written as a string: `timeout = \"{lit}\"`"),
        )),
        suffix => Err(syn::Error::new(
            lit.span(),
            format!("unexpected suffix `{suffix}` on the timeout: expected {TIMEOUT_FORMS}"),
        )),
    }
}

/// Why a text is not a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// Not of the grammar.
    Invalid,
    /// Zero of any unit.
    Zero,
    /// More milliseconds than a u64 holds.
    TooLarge,
}

/// The grammar of a timeout: ASCII digits followed by `ms`, `s` or `m`; with
/// `bare_seconds` (the attribute's integer form, and the environment variable), digits
/// alone are seconds. Nothing else: no sign, no space, no fraction, no other unit.
///
/// The runtime has the same function for `NETNS_TEST_TIMEOUT` (this crate cannot be a
/// dependency of it); both are tested against `timeout-cases.txt`.
pub(crate) fn parse_duration_ms(text: &str, bare_seconds: bool) -> Result<u64, DurationError> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let factor: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "" if bare_seconds => 1_000,
        _ => return Err(DurationError::Invalid),
    };
    if number.is_empty() {
        return Err(DurationError::Invalid);
    }
    let ms = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or(DurationError::TooLarge)?;
    if ms == 0 {
        return Err(DurationError::Zero);
    }
    Ok(ms)
}
