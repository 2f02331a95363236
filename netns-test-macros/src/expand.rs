//! Parsing the annotated function and generating the test around it.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    braced, token, Attribute, Expr, FnArg, Item, Lit, Meta, ReturnType, Signature, Type, Visibility,
};

use crate::config::{self, Errors, FinalConfig};

/// The function under `#[netns_test]`. The body is kept as tokens: it is emitted
/// unchanged, and a body that does not parse yet (while it is being edited) must not
/// prevent the expansion.
struct TestFn {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    brace: token::Brace,
    body: TokenStream,
}

impl Parse for TestFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let body = content.parse()?;
        Ok(TestFn {
            attrs,
            vis,
            sig,
            brace,
            body,
        })
    }
}

impl ToTokens for TestFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.attrs.iter().map(ToTokens::to_token_stream));
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.brace
            .surround(tokens, |tokens| tokens.extend(self.body.clone()));
    }
}

/// The whole attribute: parses, checks, and expands, reporting every error at once.
pub(crate) fn netns_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let (config, args_error) = config::parse_args(args);
    let mut errors = Errors::default();
    errors.extend(args_error);

    let mut f = match parse_item(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            errors.push(e);
            return with_errors(item, errors);
        }
    };

    // A second test attribute is dropped after reporting it, so that the expansion
    // stays a single valid test.
    f.attrs.retain(|attr| match test_attr_error(attr) {
        Some(e) => {
            errors.push(e);
            false
        }
        None => true,
    });

    // `#[should_panic]` is the runtime's to judge, not libtest's: a panic of the framework
    // itself (a timeout, a sandbox that cannot be created) must not satisfy it.
    let mut should_panic = ShouldPanic::No;
    let mut has_should_panic = false;
    f.attrs.retain(|attr| {
        if !attr.path().is_ident("should_panic") {
            return true;
        }
        if has_should_panic {
            errors.push(syn::Error::new_spanned(
                attr,
                "`#[should_panic]` given more than once",
            ));
            return false;
        }
        has_should_panic = true;
        match parse_should_panic(attr) {
            Ok(parsed) => should_panic = parsed,
            Err(e) => errors.push(e),
        }
        false
    });
    if has_should_panic {
        if let ReturnType::Type(_, ty) = &f.sig.output {
            if !is_unit(ty) {
                errors.push(syn::Error::new_spanned(
                    ty,
                    "functions using `#[should_panic]` must return `()`",
                ));
            }
        }
    }

    let signature_error = check_signature(&f.sig);
    let expanded = if signature_error.is_some() {
        // The function cannot be called as a test: keep it as written, so that the
        // only errors are the ones explaining why.
        quote! {
            #[allow(dead_code)]
            #f
        }
    } else {
        expand(f, config.build(), &should_panic)
    };
    errors.extend(signature_error);
    with_errors(expanded, errors)
}

fn with_errors(mut tokens: TokenStream, errors: Errors) -> TokenStream {
    if let Some(error) = errors.into_error() {
        tokens.extend(error.into_compile_error());
    }
    tokens
}

fn parse_item(item: TokenStream) -> syn::Result<TestFn> {
    syn::parse2::<TestFn>(item.clone()).map_err(|fn_error| match syn::parse2::<Item>(item) {
        Ok(Item::Fn(_)) | Err(_) => fn_error,
        Ok(other) => not_a_fn(&other),
    })
}

fn not_a_fn(item: &Item) -> syn::Error {
    fn named(keyword: &dyn ToTokens, ident: &Ident) -> TokenStream {
        quote!(#keyword #ident)
    }
    let (what, tokens) = match item {
        Item::Struct(i) => ("a struct", named(&i.struct_token, &i.ident)),
        Item::Enum(i) => ("an enum", named(&i.enum_token, &i.ident)),
        Item::Union(i) => ("a union", named(&i.union_token, &i.ident)),
        Item::Const(i) => ("a constant", named(&i.const_token, &i.ident)),
        Item::Static(i) => ("a static", named(&i.static_token, &i.ident)),
        Item::Mod(i) => ("a module", named(&i.mod_token, &i.ident)),
        Item::Trait(i) => ("a trait", named(&i.trait_token, &i.ident)),
        Item::Type(i) => ("a type alias", named(&i.type_token, &i.ident)),
        Item::Impl(i) => ("an impl block", i.impl_token.to_token_stream()),
        Item::Use(i) => ("a `use` declaration", i.use_token.to_token_stream()),
        other => ("this item", other.to_token_stream()),
    };
    syn::Error::new_spanned(
        tokens,
        format!("`#[netns_test]` can only be applied to a function, not to {what}"),
    )
}

/// `#[test]`, `#[tokio::test]` and the like on the function: reported, since
/// `#[netns_test]` already generates the `#[test]`.
fn test_attr_error(attr: &Attribute) -> Option<syn::Error> {
    let path = attr.path();
    if path.segments.last()?.ident != "test" {
        return None;
    }
    let written = path.to_token_stream().to_string().replace(' ', "");
    let mut message =
        format!("`#[netns_test]` already makes this function a test: remove `#[{written}]`");
    if path.segments.len() > 1 {
        message.push_str(" (`#[netns_test]` runs async functions itself)");
    }
    Some(syn::Error::new_spanned(attr, message))
}

/// What `#[should_panic]` asks for, as libtest's `ShouldPanic`.
pub(crate) enum ShouldPanic {
    No,
    Yes,
    /// `expected = "..."`: the panic message must contain it.
    YesWithMessage(syn::LitStr),
}

/// `#[should_panic]`, `#[should_panic = "text"]` or `#[should_panic(expected = "text")]`,
/// the forms libtest accepts.
fn parse_should_panic(attr: &Attribute) -> syn::Result<ShouldPanic> {
    let wrong = |tokens: &dyn ToTokens| {
        syn::Error::new_spanned(
            tokens,
            "`#[should_panic]` takes no argument or `expected = \"...\"`: write \
             `#[should_panic]` or `#[should_panic(expected = \"part of the panic message\")]`",
        )
    };
    let string = |expr: &Expr| match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(ShouldPanic::YesWithMessage(lit.clone())),
        other => Err(wrong(other)),
    };
    match &attr.meta {
        Meta::Path(_) => Ok(ShouldPanic::Yes),
        Meta::NameValue(nv) => string(&nv.value),
        Meta::List(list) => {
            let nv: syn::MetaNameValue = list.parse_args().map_err(|_| wrong(&list.tokens))?;
            if !nv.path.is_ident("expected") {
                return Err(wrong(&nv.path));
            }
            string(&nv.value)
        }
    }
}

fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Paren(p) => is_unit(&p.elem),
        Type::Group(g) => is_unit(&g.elem),
        _ => false,
    }
}

/// What makes a signature unusable as a `#[netns_test]` function.
fn check_signature(sig: &Signature) -> Option<syn::Error> {
    let mut errors = Errors::default();
    if let Some(unsafety) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            "`#[netns_test]` functions cannot be `unsafe`",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "`#[netns_test]` functions cannot be generic: the test has nothing to \
             instantiate them with",
        ));
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            "`#[netns_test]` functions cannot have a `where` clause",
        ));
    }
    for input in &sig.inputs {
        if let FnArg::Receiver(receiver) = input {
            errors.push(syn::Error::new_spanned(
                receiver,
                "`#[netns_test]` functions cannot take `self`: write a free function \
                 that takes a `Net` or nothing",
            ));
        }
    }
    let params = sig
        .inputs
        .iter()
        .filter(|input| matches!(input, FnArg::Typed(_)))
        .count();
    if let (1, Some(FnArg::Typed(param))) = (params, sig.inputs.first()) {
        if let Type::Reference(reference) = &*param.ty {
            errors.push(net_by_reference(&param.pat, reference));
        }
    }
    if params > 1 {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            format!(
                "a `#[netns_test]` function takes at most one parameter, the `Net` handle, \
                 but `{}` takes {}",
                sig.ident.unraw(),
                params
            ),
        ));
    }
    errors.into_error()
}

/// The spans of the first and the last token of `tokens` (stable Rust cannot join them).
fn first_and_last_span(tokens: &TokenStream) -> (Span, Span) {
    let mut trees = tokens.clone().into_iter();
    let Some(first) = trees.next() else {
        return (Span::call_site(), Span::call_site());
    };
    let last = trees.last().unwrap_or_else(|| first.clone());
    let end = |tree: &proc_macro2::TokenTree| match tree {
        proc_macro2::TokenTree::Group(g) => g.span_close(),
        other => other.span(),
    };
    let start = match &first {
        proc_macro2::TokenTree::Group(g) => g.span_open(),
        other => other.span(),
    };
    (start, end(&last))
}

/// `tokens` with every span set to `span` (groups included).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                tree = proc_macro2::TokenTree::Group(new);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// A parameter `net: &Net` (or `&mut Net`, or a reference to anything): the test owns
/// its network, and the runtime hands it over by value.
fn net_by_reference(pat: &syn::Pat, reference: &syn::TypeReference) -> syn::Error {
    let pat = pat.to_token_stream().to_string();
    let by_value = reference
        .elem
        .to_token_stream()
        .to_string()
        .replace(' ', "");
    let mutability = if reference.mutability.is_some() {
        "mut "
    } else {
        ""
    };
    let written = format!("&{mutability}{by_value}");
    let message = match &*reference.elem {
        Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Net") => {
            format!(
                "a `#[netns_test]` function takes the `Net` handle by value: write \
                 `{pat}: {by_value}` instead of `{pat}: {written}`"
            )
        }
        _ => format!(
            "the parameter of a `#[netns_test]` function is the `Net` handle, taken by value: \
             write `{pat}: Net` instead of `{pat}: {written}`"
        ),
    };
    syn::Error::new_spanned(reference, message)
}

/// `#[ignore]` or `#[ignore = "reason"]` among the test's attributes: whether it is
/// ignored, and the reason, for the harness mode's registration (libtest reads the
/// attribute itself, which stays on the `#[test]` function).
fn ignore_of(attrs: &[Attribute]) -> (bool, Option<syn::LitStr>) {
    for attr in attrs {
        if !attr.path().is_ident("ignore") {
            continue;
        }
        let reason = match &attr.meta {
            Meta::NameValue(syn::MetaNameValue {
                value:
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(reason),
                        ..
                    }),
                ..
            }) => Some(reason.clone()),
            _ => None,
        };
        return (true, reason);
    }
    (false, None)
}

/// The test, in two parts that share one copy of the function:
///
/// - a `static` registered in the runtime's list of tests (`__private::TESTS`, a
///   distributed slice), holding the test's settings and the function, nested inside it,
///   behind a `fn(Net) -> BodyResult`: what the harness mode (`netns_test::main!()` in a
///   `harness = false` target) runs. It exists in every build, since a `#[test]` function
///   exists only under `--test`;
/// - a plain `#[test] fn name()` that hands the registered test to the sandbox runner:
///   the default mode, under libtest.
fn expand(f: TestFn, config: FinalConfig, should_panic: &ShouldPanic) -> TokenStream {
    let FinalConfig {
        topology,
        timeout_ms,
        keep_artifacts,
        krate,
    } = config;
    let TestFn {
        attrs,
        vis,
        sig,
        brace,
        body,
    } = f;
    let name = &sig.ident;
    // One setter for each setting that is not the default.
    let should_panic = match should_panic {
        ShouldPanic::No => TokenStream::new(),
        ShouldPanic::Yes => quote!(.should_panic(#krate::__private::ShouldPanic::Yes)),
        ShouldPanic::YesWithMessage(text) => {
            quote!(.should_panic(#krate::__private::ShouldPanic::YesWithMessage(#text)))
        }
    };
    // As libtest names the test: a raw identifier keeps its `r#`.
    let name_str = name.to_string();
    let timeout_ms = match timeout_ms {
        Some(ms) => {
            let ms = Literal::u64_suffixed(ms);
            quote!(.timeout_ms(#ms))
        }
        None => TokenStream::new(),
    };
    let keep_artifacts = if keep_artifacts {
        quote!(.keep_artifacts(true))
    } else {
        TokenStream::new()
    };
    let (ignore, reason) = ignore_of(&attrs);
    let ignore_reason = match reason {
        Some(reason) => quote!(::core::option::Option::Some(#reason)),
        None => quote!(::core::option::Option::None),
    };
    // The registration follows the test's own `#[cfg]`s: a test compiled out is not
    // registered either.
    let cfgs: Vec<&Attribute> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    let registered = Ident::new(&format!("__NETNS_TEST_{}", name.unraw()), name.span());
    // The body's value goes through a check of its type spanned on the return type, so
    // that a return type that is neither `()` nor a `Result` is reported there: rustc
    // spans an expression from its first token to its last, so the first tokens carry the
    // span of the type's first token, the last ones that of its last.
    let (first, last) = match &sig.output {
        ReturnType::Type(_, ty) => first_and_last_span(&ty.to_token_stream()),
        ReturnType::Default => (Span::call_site(), Span::call_site()),
    };
    let check = respan(quote!(#krate::__private::test_result), first);
    let mut callee = name.clone();
    callee.set_span(first);
    let (param, arg) = match sig.inputs.first() {
        Some(FnArg::Typed(param)) => {
            // Spanned on the parameter's type, so that a parameter that is not a `Net`
            // is reported there.
            let net = Ident::new("net", param.ty.span());
            (quote!(net), net.to_token_stream())
        }
        _ => (quote!(_), TokenStream::new()),
    };
    // `check(name(arg))`, or `check(name(arg).await)` in an async block.
    let parens = |inner: TokenStream| {
        let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, inner);
        group.set_span(last);
        group
    };
    let args = parens(arg);
    let call = if sig.asyncness.is_some() {
        let awaited = respan(quote!(.await), last);
        let value = parens(quote!(#callee #args #awaited));
        quote!(|net| #krate::__private::block_on(net, |#param| async move { #check #value }))
    } else {
        let value = parens(quote!(#callee #args));
        quote!(|#param| #check #value)
    };
    let mut inner = sig.to_token_stream();
    brace.surround(&mut inner, |tokens| tokens.extend(body));

    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            #krate::__private::run_sync(
                #registered.spec,
                #registered.topology,
                #registered.body,
            )
        }

        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #[#krate::__private::linkme::distributed_slice(#krate::__private::TESTS)]
        #[linkme(crate = #krate::__private::linkme)]
        static #registered: #krate::__private::Registered = {
            #inner
            #krate::__private::Registered {
                spec: #krate::__private::TestSpec::new(
                    ::core::concat!(::core::module_path!(), "::", #name_str)
                ) #timeout_ms #keep_artifacts #should_panic,
                ignore: #ignore,
                ignore_reason: #ignore_reason,
                topology: || #topology,
                body: #call,
            }
        };
    }
}
