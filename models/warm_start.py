"""Starting a model from the weights of an earlier one trained on other spans (--warm-start).

Weights are matched by name. An id from a vocabulary means a different value when the vocabulary changed
between spans (tokens are ordered by frequency), so embedding rows follow their token, not their position; a
hashed cross of such ids is only kept when every vocabulary in it is unchanged. Anything whose shape changed
starts afresh.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from models.contract import EMBEDDING_SUFFIX, WIDE_SUFFIX
from preprocessing import features

VOCABULARY_PREFIX = 'vocabulary:'  # saved-weights entries holding the tokens of a vocabulary feature.
Vocabularies = Mapping[str, Sequence[bytes]]  # transformed feature key -> tokens, id order.


def layer_feature(weight_name: str) -> str:
  """The transformed feature key behind an embedding weight ('company_id_wide/embeddings:0' -> 'company_id')."""
  layer = weight_name.split('/', 1)[0]
  for suffix in (EMBEDDING_SUFFIX, WIDE_SUFFIX):
    if layer.endswith(suffix):
      return layer[:-len(suffix)]
  return ''


def align_rows(saved: np.ndarray, fresh: np.ndarray, saved_tokens: Sequence[bytes],
               tokens: Sequence[bytes]) -> Tuple[np.ndarray, int]:
  """Embedding rows for a new vocabulary: each known token keeps its saved row, new tokens keep fresh rows.

  The out-of-vocabulary hash buckets after the vocabulary keep their saved rows too (same hash function).
  Returns the rows and how many tokens were found in the saved vocabulary.
  """
  rows = fresh.copy()
  position = {token: i for i, token in enumerate(saved_tokens)}
  matched = 0
  for i, token in enumerate(tokens):
    if token in position:
      rows[i] = saved[position[token]]
      matched += 1
  oov = min(len(fresh) - len(tokens), len(saved) - len(saved_tokens))
  rows[len(tokens):len(tokens) + oov] = saved[len(saved_tokens):len(saved_tokens) + oov]
  return rows, matched


def changed_vocabularies(saved_vocabularies: Vocabularies, vocabularies: Vocabularies) -> List[str]:
  """The vocabulary features whose tokens or their order differ from the saved ones."""
  return sorted(key for key, tokens in vocabularies.items()
                if list(saved_vocabularies.get(key, [])) != list(tokens))


def crosses_of(keys: List[str]) -> List[str]:
  """The declared crosses that take any of these transformed features."""
  return [cross.name for cross in features.CROSSES if set(cross.keys) & set(keys)]


def warm_values(fresh: Mapping[str, np.ndarray], saved: Mapping[str, np.ndarray], saved_vocabularies: Vocabularies,
                vocabularies: Vocabularies) -> Tuple[Dict[str, np.ndarray], List[str], List[str]]:
  """Which weights start from saved values, and those values.

  Returns the values by weight name, a line per copied weight and the names of those left fresh.
  """
  unstable = set(crosses_of(changed_vocabularies(saved_vocabularies, vocabularies)))
  values, copied, left_fresh = {}, [], []
  for name, value in fresh.items():
    key = layer_feature(name)
    old = saved.get(name)
    if old is None or key in unstable or old.shape[1:] != value.shape[1:]:
      left_fresh.append(name)
    elif key in vocabularies and key in saved_vocabularies:
      values[name], matched = align_rows(old, value, saved_vocabularies[key], vocabularies[key])
      copied.append(f'{name} ({matched} of {len(vocabularies[key])} tokens)')
    elif old.shape == value.shape:
      values[name] = old
      copied.append(name)
    else:
      left_fresh.append(name)
  return values, copied, left_fresh


def saved_entries(weights: Mapping[str, np.ndarray],
                  vocabularies: Vocabularies) -> Dict[str, np.ndarray]:
  """What is saved beside a model for later warm starts: its weights and its vocabularies."""
  entries = dict(weights)
  entries.update({VOCABULARY_PREFIX + key: np.array(list(tokens), dtype=bytes) for key, tokens in
                  vocabularies.items()})
  return entries


def split_entries(entries: Mapping[str, np.ndarray]) -> Tuple[Dict[str, np.ndarray], Dict[str, List[bytes]]]:
  """The saved weights and vocabularies, from what saved_entries wrote."""
  weights = {k: v for k, v in entries.items() if not k.startswith(VOCABULARY_PREFIX)}
  vocabularies = {k[len(VOCABULARY_PREFIX):]: [bytes(t) for t in v] for k, v in entries.items()
                  if k.startswith(VOCABULARY_PREFIX)}
  return weights, vocabularies
