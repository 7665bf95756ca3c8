// How many objects to ask for in the next page of a consistent (etcd) list. etcd answers every
// page's range with the count of all keys left in it (kube-apiserver's remainingItemCount), walking
// them in its index: a list of N objects in pages of P walks ~N²/2P keys. At 100,000 Services in
// pages of 500 that is 10 million keys: a page took ~120-330 ms at the start of the range and ~35 ms at
// its end (kube-apiserver 1.20, etcd 3.4, load 9), and the whole list 13-18 s; sized as below, 6.8-8.4 s
// (one unpaginated list: 7.8-10.3 s, one 63 MB answer). So after the first page the pages are sized by
// bytes: about PAGE_BYTES each, many small objects per page and few large ones, which also bounds what
// one answer makes us hold (a page of 500 objects of 1 MB was 500 MB).

/** The first page's size when not told (client-go's). */
export const FIRST_PAGE_ITEMS = 500;
/** About this many bytes of JSON per later page. */
export const PAGE_BYTES = 8 * 1024 * 1024;
/** Bounds of a later page's size: 8 MB of Services (~1.1 kB each) is ~7,500; never a page per object of 1 MB+. */
export const MAX_PAGE_ITEMS = 10_000;
export const MIN_PAGE_ITEMS = 10;

/**
 * The next page's size after one of `items` objects in `bytes` bytes, asked with limit `previous`.
 * An empty page (a server may send one with a continue token) has nothing to size by: the limit
 * stays, since the objects after it may be as large as those that sized it.
 */
export function nextPageSize(items: number, bytes: number, previous: number, pageBytes = PAGE_BYTES): number {
  if (items <= 0 || bytes <= 0) return previous;
  const fit = Math.floor((items * pageBytes) / bytes);
  return Math.min(MAX_PAGE_ITEMS, Math.max(MIN_PAGE_ITEMS, fit));
}
