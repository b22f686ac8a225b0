//! A collector for every error of one derive input.

/// Collects errors so that one compile reports all of them, each at its own
/// span, instead of stopping at the first.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// Adds an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Adds an error at the span of `tokens`.
    pub(crate) fn spanned(
        &mut self,
        tokens: impl quote::ToTokens,
        message: impl std::fmt::Display,
    ) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// `Ok(value)` when nothing was collected, else every error combined.
    pub(crate) fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.combined {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    /// Every error collected, for a caller that has nothing valid to return.
    /// Only called after at least one error was pushed; an empty collector
    /// still yields an error rather than a silent success.
    pub(crate) fn finish_err<T>(self) -> syn::Result<T> {
        Err(self.combined.unwrap_or_else(|| {
            syn::Error::new(
                proc_macro2::Span::call_site(),
                "invalid `#[derive(Event)]` input",
            )
        }))
    }
}
