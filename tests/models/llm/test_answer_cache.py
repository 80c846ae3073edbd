"""The LLM answer cache keeps at most its bound, dropping the oldest writes first."""

import pytest

from whichmodel.models.llm.answer_cache import AnswerCache, answer_key


def _key(i: int) -> str:
    return answer_key("http://127.0.0.1:1/v1", "m", {"messages": [{"content": f"text {i}"}]})


def test_past_its_bound_the_cache_drops_the_oldest_answers_and_keeps_the_newest(tmp_path):
    cache = AnswerCache(tmp_path, max_answers=5)
    for i in range(8):
        cache.put(_key(i), {"label": f"l{i}", "usage": {"prompt_tokens": i}})
    assert len(cache) == 5
    assert [cache.get(_key(i)) is None for i in range(8)] == [True] * 3 + [False] * 5
    assert cache.get(_key(7)) == {"label": "l7", "usage": {"prompt_tokens": 7}}


def test_rewriting_an_old_answer_makes_it_newest(tmp_path):
    cache = AnswerCache(tmp_path, max_answers=3)
    for i in range(3):
        cache.put(_key(i), {"label": i})
    cache.put(_key(0), {"label": "again"})  # 0 is now the newest write
    cache.put(_key(3), {"label": 3})        # so 1 goes, not 0
    assert cache.get(_key(1)) is None
    assert cache.get(_key(0)) == {"label": "again"} and len(cache) == 3


def test_a_second_cache_on_the_same_folder_sees_the_answers(tmp_path):
    AnswerCache(tmp_path).put(_key(1), {"label": "x"})
    assert AnswerCache(tmp_path).get(_key(1)) == {"label": "x"}


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_a_bound_that_is_not_a_positive_whole_number_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="max_answers"):
        AnswerCache(tmp_path, max_answers=bad)
