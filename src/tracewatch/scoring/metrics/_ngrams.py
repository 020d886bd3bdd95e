"""Clipped n-gram matches (BLEU's modified precision numerators, token F1's overlap) for every row at once.

For each order n and row, the number of the hypothesis' n-grams found in the reference, each counted at most as
often as the reference has it: the size of the multiset intersection. All rows are counted together in numpy:
an n-gram gets an exact integer id (never a hash) that includes its row; counting is sorting and `np.bincount`.
"""

from __future__ import annotations

import numpy as np

from tracewatch.scoring.metrics._symbols import Sequences


def clipped_matches(hyp: Sequences, ref: Sequences, max_order: int) -> np.ndarray:
    """(rows, max_order) int64: clipped matches of hypothesis n-grams in the reference, n = 1..max_order.

    An n-gram's key is (id of its (n-1)-gram prefix, its last token); the ids index the reference's sorted distinct
    keys, so keys stay exact and within int64 for any vocabulary. A hypothesis n-gram can only match where its
    prefix matched, so each order only looks at the hypothesis positions that survived the order before."""
    rows = hyp.lengths.size
    matches = np.zeros((rows, max_order), dtype=np.int64)
    vocabulary = int(max(hyp.codes.max(initial=-1), ref.codes.max(initial=-1))) + 1
    ref_row, hyp_row = ref.rows(), hyp.rows()
    # Tokens from each position to the end of its row: an n-gram starts where at least n remain.
    ref_left = ref.lengths[ref_row] - ref.positions()
    hyp_left = hyp.lengths[hyp_row] - hyp.positions()
    # Order 1: the prefix is the row itself.
    ref_prefix, hyp_prefix = ref_row, hyp_row
    ref_at, hyp_at = np.arange(ref.codes.size), np.arange(hyp.codes.size)
    for order in range(1, max_order + 1):
        last = order - 1  # offset of the n-gram's last token from its start
        if order > 1:
            ref_keep, hyp_keep = ref_left[ref_at] >= order, hyp_left[hyp_at] >= order
            ref_at, ref_prefix = ref_at[ref_keep], ref_prefix[ref_keep]
            hyp_at, hyp_prefix = hyp_at[hyp_keep], hyp_prefix[hyp_keep]
        if hyp_at.size == 0 or ref_at.size == 0:
            break
        ref_keys = ref_prefix * vocabulary + ref.codes[ref_at + last]
        hyp_keys = hyp_prefix * vocabulary + hyp.codes[hyp_at + last]
        grams, in_ref = np.unique(ref_keys, return_counts=True)
        ref_ids = np.searchsorted(grams, ref_keys)
        hyp_ids = np.minimum(np.searchsorted(grams, hyp_keys), grams.size - 1)
        found = grams[hyp_ids] == hyp_keys
        hyp_ids = hyp_ids[found]
        in_hyp = np.bincount(hyp_ids, minlength=grams.size)
        gram_row = np.empty(grams.size, dtype=np.int64)
        gram_row[ref_ids] = ref_row[ref_at]
        clipped = np.minimum(in_ref, in_hyp)
        matches[:, order - 1] = np.bincount(gram_row, weights=clipped, minlength=rows).astype(np.int64)
        # The next order extends only the hypothesis n-grams the reference has.
        hyp_at, hyp_prefix = hyp_at[found], hyp_ids
        ref_prefix = ref_ids
    return matches
