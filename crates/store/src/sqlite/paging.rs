//! Iterators that read a page at a time and hold no lock between pages.
//!
//! The Go package held its single connection for the whole of a `range` loop, so a loop
//! body that wrote to the store deadlocked. These iterators fetch a bounded page with
//! keyset pagination (`key > last key`), give the connection back, and then yield from
//! memory: the loop body may call anything on the store, memory stays bounded, and a key
//! inserted ahead of the cursor is still seen.

use crate::error::Result;

/// How many rows one page reads.
pub(crate) const PAGE_SIZE: usize = 256;

/// A lazy, fused iterator over pages produced by `fetch`, which is given the last item
/// yielded so far (`None` for the first page) and returns at most [`PAGE_SIZE`] items.
pub(crate) struct Paged<T, F> {
    fetch: F,
    cursor: Option<T>,
    page: std::vec::IntoIter<T>,
    is_exhausted: bool,
}

impl<T, F> Paged<T, F>
where
    T: Clone,
    F: FnMut(Option<&T>) -> Result<Vec<T>>,
{
    pub(crate) fn new(fetch: F) -> Paged<T, F> {
        Paged {
            fetch,
            cursor: None,
            page: Vec::new().into_iter(),
            is_exhausted: false,
        }
    }
}

impl<T, F> Iterator for Paged<T, F>
where
    T: Clone,
    F: FnMut(Option<&T>) -> Result<Vec<T>>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if let Some(item) = self.page.next() {
            return Some(Ok(item));
        }
        if self.is_exhausted {
            return None;
        }
        match (self.fetch)(self.cursor.as_ref()) {
            Ok(page) => {
                self.is_exhausted = page.len() < PAGE_SIZE;
                self.cursor.clone_from(&page.last().cloned());
                self.page = page.into_iter();
                self.page.next().map(Ok)
            }
            Err(error) => {
                self.is_exhausted = true;
                Some(Err(error))
            }
        }
    }
}

impl<T, F> std::iter::FusedIterator for Paged<T, F>
where
    T: Clone,
    F: FnMut(Option<&T>) -> Result<Vec<T>>,
{
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn paged_good_yields_every_page_then_ends() {
        let total = PAGE_SIZE * 2 + 3;
        let mut fetches = 0;
        let items: Vec<usize> = Paged::new(|cursor: Option<&usize>| {
            fetches += 1;
            let start = cursor.map_or(0, |last| last + 1);
            Ok((start..total.min(start + PAGE_SIZE)).collect())
        })
        .collect::<Result<_>>()
        .unwrap_or_default();
        assert_eq!(items, (0..total).collect::<Vec<_>>());
        assert_eq!(fetches, 3);
    }

    #[test]
    fn paged_bad_error_is_yielded_once_then_fused() {
        let mut paged = Paged::new(|_cursor: Option<&u8>| {
            Err(Error::Closed {
                operation: "store.all",
            })
        });
        assert!(matches!(paged.next(), Some(Err(Error::Closed { .. }))));
        assert!(paged.next().is_none());
        assert!(paged.next().is_none());
    }
}
