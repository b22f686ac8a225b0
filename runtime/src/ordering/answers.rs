//! [`Answers`] and [`StoreFuture`]: how a [`SequenceStore`](super::SequenceStore)
//! answers the guard's batches, without allocating when it answers one
//! step from memory.

use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use smallvec::SmallVec;

use crate::bus::transport::BoxFuture;

/// A store's answers to a batch, one per request, in the requests' order.
///
/// Kept inline for a batch of one, the common case (a listener dispatched
/// one by one): answering it does not allocate. Collect one from an
/// iterator, or convert a `Vec`; read it as a slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers<T>(SmallVec<[T; 1]>);

impl<T> std::ops::Deref for Answers<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> FromIterator<T> for Answers<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<T> From<Vec<T>> for Answers<T> {
    fn from(answers: Vec<T>) -> Self {
        Self(SmallVec::from_vec(answers))
    }
}

impl<T> IntoIterator for Answers<T> {
    type Item = T;
    type IntoIter = smallvec::IntoIter<[T; 1]>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// What [`claim_all`](super::SequenceStore::claim_all) and
/// [`finish_all`](super::SequenceStore::finish_all) return: an answer at
/// hand ([`ready`](Self::ready), no allocation: a store in memory) or one
/// still on its way ([`new`](Self::new), boxed: a store across a network).
#[must_use = "futures do nothing unless awaited"]
pub struct StoreFuture<'a, T>(Inner<'a, T>);

enum Inner<'a, T> {
    Ready(Ready<T>),
    Waiting(BoxFuture<'a, T>),
}

impl<'a, T> StoreFuture<'a, T> {
    /// An answer already known.
    pub fn ready(answer: T) -> Self {
        Self(Inner::Ready(std::future::ready(answer)))
    }

    /// An answer `future` gives.
    pub fn new(future: impl Future<Output = T> + Send + 'a) -> Self {
        Self(Inner::Waiting(Box::pin(future)))
    }
}

impl<T> Future for StoreFuture<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // Both variants are `Unpin` (`Ready` always, a box by its pointer).
        match &mut self.get_mut().0 {
            Inner::Ready(ready) => Pin::new(ready).poll(cx),
            Inner::Waiting(waiting) => waiting.as_mut().poll(cx),
        }
    }
}

impl<T> std::fmt::Debug for StoreFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Inner::Ready(_) => "StoreFuture::Ready",
            Inner::Waiting(_) => "StoreFuture::Waiting",
        })
    }
}
