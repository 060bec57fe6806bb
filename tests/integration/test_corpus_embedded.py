"""The default corpus tokenized by the embedded model's real (SmolLM2) tokenizer."""

from mechanic.tools.corpus import corpus_windows
from support import assert_windows_from_documents


def test_default_corpus_with_the_embedded_tokenizer(embedded):
    tok = embedded.tokenizer
    windows = corpus_windows(tok, n_tokens=5_000, length=64, seed=0)
    assert len(windows) == 5_000 // 64
    assert_windows_from_documents(tok, windows, "default", 0, 64)
    specials = set(tok.all_special_ids)
    assert specials  # SmolLM2 has BOS/EOS ids, so the next check can fail
    assert not any(t in specials for w in windows for t in w.tokens)  # no BOS/EOS added
