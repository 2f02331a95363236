//! Parsing the annotated function and generating the test around it.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{braced, token, Attribute, FnArg, Item, Signature, Visibility};

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

    let signature_error = check_signature(&f.sig);
    let expanded = if signature_error.is_some() {
        // The function cannot be called as a test: keep it as written, so that the
        // only errors are the ones explaining why.
        quote! {
            #[allow(dead_code)]
            #f
        }
    } else {
        expand(f, config.build())
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

/// The test: a plain `#[test] fn name()` that hands the original function, nested
/// inside it, to the runtime.
fn expand(f: TestFn, config: FinalConfig) -> TokenStream {
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
    // An expected panic is not a failure: the sandbox then keeps no diagnostics.
    let should_panic = attrs.iter().any(|a| a.path().is_ident("should_panic"));
    // As libtest names the test: a raw identifier keeps its `r#`.
    let name_str = name.to_string();
    let runner = if sig.asyncness.is_some() {
        quote!(#krate::__private::run_async)
    } else {
        quote!(#krate::__private::run_sync)
    };
    let timeout_ms = match timeout_ms {
        Some(ms) => {
            let ms = Literal::u64_suffixed(ms);
            quote!(::core::option::Option::Some(#ms))
        }
        None => quote!(::core::option::Option::None),
    };
    let call = match sig.inputs.first() {
        Some(FnArg::Typed(param)) => {
            // Spanned on the parameter's type, so that a parameter that is not a `Net`
            // is reported there.
            let net = Ident::new("net", param.ty.span());
            quote!(|net| #name(#net))
        }
        _ => quote!(|_| #name()),
    };
    let mut inner = sig.to_token_stream();
    brace.surround(&mut inner, |tokens| tokens.extend(body));

    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            #inner
            #runner(
                #krate::__private::TestSpec {
                    path: ::core::concat!(::core::module_path!(), "::", #name_str),
                    timeout_ms: #timeout_ms,
                    keep_artifacts: #keep_artifacts,
                    should_panic: #should_panic,
                },
                || #topology,
                #call,
            )
        }
    }
}
