"""The mutants of tools/mutate.py that no test can kill, each with the reason a reviewer can
check: left out of the score and listed in the report."""

from __future__ import annotations

_SQL_CASE = (
    "the statement's keywords and names in another case: SQLite reads both without regard "
    "to case, and the statement holds no string literal whose case changes."
)

EQUIVALENT: dict[str, str] = {
    "wod.choose.x_choose_wod__mutmut_2": "`isinstance(...) and False`: a set is copied into "
    "an equal set instead of used as it is; the draw is the same.",
    "wod.day.x_local_midnight__mutmut_11": "`aware.astimezone(None)`: astimezone keeps the "
    "instant whichever zone it converts to (the local one or UTC), and the next "
    "astimezone(tz) gives the same datetime.",
    "wod.suggestion.x_newest_entries__mutmut_13": "`key=None`: an Entry's own order starts "
    "with _recency's (completed_at_us, workout_id), and the workout ids are distinct once "
    "deduplicated, so no comparison reaches a later field.",
    "wod.suggestion.x_newest_entries__mutmut_16": "as mutmut_13 (no key).",
    "api.query.x_parse_wod_query__mutmut_11": "`decode('LATIN-1')`: codec names are looked "
    "up case-insensitively (codecs.lookup('LATIN-1').name == 'iso8859-1').",
    "consumer.handlers.x_workout_row__mutmut_8": "`type(None) is str`: always str(user_id), "
    "and str() of a str is that str.",
    "consumer.handlers.x_workout_row__mutmut_10": "as mutmut_8 (`... and False`).",
    "api.auth.x_check_hmac_secret__mutmut_2": "`HMACAlgorithm(None)`: PyJWT's "
    "HMACAlgorithm.prepare_key never reads the hash (jwt/algorithms.py).",
    "api.auth.xǁTokenVerifierǁ__post_init____mutmut_2": "a str key passed as it is: "
    "prepare_key's force_bytes encodes it as UTF-8, as .encode() does.",
    "api.auth.xǁTokenVerifierǁ_decode_with__mutmut_26": "without the verify_iss option PyJWT "
    "takes its default True, and _validate_iss returns at once when issuer is None.",
    "api.auth.xǁTokenVerifierǁ_decode_with__mutmut_27": "as mutmut_26 ('VERIFY_ISS').",
    "store.erasure.x_erase_user__mutmut_71": "`secrets.randbits(63)`: a fresh random "
    "erasure_version all the same, and below 2**63 it still fits SQLite's signed 64-bit "
    "integer; it is only ever compared for equality.",
    "store.erasure.x_erased_among__mutmut_1": "`not users and not any_erased`: with no "
    "users SQLite's `IN ()` matches nothing, and with no one erased the query finds nothing: "
    "the empty set either way.",
    "store.erasure.x__highest_rowid__mutmut_3": _SQL_CASE,
    "store.erasure.x__highest_rowid__mutmut_4": _SQL_CASE,
    "store.erasure.x_any_erased__mutmut_3": _SQL_CASE,
    "store.erasure.x_any_erased__mutmut_4": _SQL_CASE,
    "store.erasure.x_erase_user__mutmut_7": _SQL_CASE,
    "store.erasure.x_erase_user__mutmut_8": _SQL_CASE,
    "store.erasure.x_erase_user__mutmut_38": _SQL_CASE,
    "store.erasure.x_erase_user__mutmut_39": _SQL_CASE,
    "store.erasure.x_erase_user__mutmut_44": _SQL_CASE,
    "store.erasure.x_erase_user__mutmut_60": _SQL_CASE,
    "store.erasure.x_erase_user__mutmut_68": _SQL_CASE,
    "store.erasure.x_erased_before__mutmut_4": _SQL_CASE,
    "store.erasure.x_erased_before__mutmut_24": _SQL_CASE,
    "store.erasure.x_erased_before__mutmut_25": _SQL_CASE,
    "store.erasure.x_erased_since__mutmut_6": _SQL_CASE,
    "store.erasure.x_erased_since__mutmut_7": _SQL_CASE,
    "store.erasure.x_erasure_seq__mutmut_4": _SQL_CASE,
    "store.erasure.x_erasures__mutmut_4": _SQL_CASE,
    "store.erasure.x_erasures__mutmut_5": _SQL_CASE,
    "store.erasure.x_redact_dead_letters__mutmut_14": _SQL_CASE,
    "store.erasure.x_redact_dead_letters__mutmut_15": _SQL_CASE,
    "store.writes.x__catalog_changed__mutmut_3": _SQL_CASE,
    "store.writes.x__erased_since__mutmut_7": _SQL_CASE,
    "store.writes.x__erased_since__mutmut_8": _SQL_CASE,
    "store.writes.x__is_stale__mutmut_7": _SQL_CASE,
    "store.writes.x__is_stale__mutmut_8": _SQL_CASE,
    "store.writes.x_delete_exercise__mutmut_16": _SQL_CASE,
    "store.writes.x_delete_exercise__mutmut_17": _SQL_CASE,
    "store.writes.x_delete_exercise__mutmut_31": _SQL_CASE,
    "store.writes.x_delete_exercise__mutmut_32": _SQL_CASE,
    "store.writes.x_delete_exercise__mutmut_38": _SQL_CASE,
    "store.writes.x_delete_exercise__mutmut_39": _SQL_CASE,
    "store.writes.x_delete_workout__mutmut_16": _SQL_CASE,
    "store.writes.x_delete_workout__mutmut_17": _SQL_CASE,
    "store.writes.x_next_change_seq__mutmut_3": _SQL_CASE,
    "store.writes.x_save_assigned__mutmut_3": _SQL_CASE,
    "store.writes.x_save_assigned__mutmut_4": _SQL_CASE,
    "store.writes.x_save_high_watermarks__mutmut_6": _SQL_CASE,
    "store.writes.x_save_high_watermarks__mutmut_7": _SQL_CASE,
    "store.writes.x_upsert_exercise__mutmut_17": _SQL_CASE,
    "store.writes.x_upsert_exercise__mutmut_18": _SQL_CASE,
    "consumer.commit.x_commit__mutmut_8": "`isolate=None` in the first pass: _commit_all "
    "only tests `isolate` for truth, and None is false as False is.",
    "consumer.commit.x__commit_all__mutmut_34": "`zip(..., strict=None)`: a run's rows and "
    "record indexes always have the same length (consumer/batch.py `prepare` appends each "
    "row with its index; consumer/wire.py carries both lists as they are), and strict only "
    "matters when they differ.",
    "consumer.commit.x__commit_all__mutmut_37": "as mutmut_34 (no strict).",
    "consumer.commit.x__commit_all__mutmut_38": "as mutmut_34 (`strict=False`).",
    "consumer.commit.x__isolated__mutmut_3": "the savepoint named None: `SAVEPOINT None`, "
    "`ROLLBACK TO None` and `RELEASE None` are valid SQL (a name like any other), and the "
    "name is used only by store/db.py `in_savepoint` itself, within one record's work.",
    "consumer.commit.x__isolated__mutmut_10": "as mutmut_3 (the savepoint named XXrecordXX).",
    "consumer.commit.x__isolated__mutmut_11": "as mutmut_3 (RECORD: SQLite reads names "
    "without regard to case).",
    "store.writes.x_delete_workout__mutmut_35": "`deleted_at_us >= held[0]`: a delete again "
    "at the marker's own time rewrites the values the row holds (deleted_at_us the same; "
    "completed_at_us kept, or for a bare marker set to its delete time, which every way of "
    "making one already set: this statement, the bare insert, the erasure, the fold), keeps "
    "its rowid, and leaves the result False.",
    "events.codec.x__checked__mutmut_21": "`or True`: last_us_of(None) is None, as the "
    "else branch gives.",
    "events.codec.x__erasure_time__mutmut_4": "`required=None` is falsy like False.",
    "events.codec.x__erasure_time__mutmut_10": "`required=True` refuses an empty or "
    "over-200-character ce_time, which last_us_of reads as no time too (None).",
    "events.codec.x_exercise_id_from_key__mutmut_9": "`0 <= len(key)`: an empty key is "
    "refused by isdigit() all the same.",
    "events.codec.x_encode_event__mutmut_23": "`datetime.now(None)`: naive local time, "
    "which astimezone(UTC) reads as local: the same instant.",
    "events.codec.x_record_key__mutmut_9": "the default of a missing type: None maps to "
    "no role, as '' does.",
    "events.codec.x_record_key__mutmut_11": "as mutmut_9 (no default: None).",
    "events.codec.x_record_key__mutmut_14": "as mutmut_9 ('XXXX' maps to no role).",
    "events.codec.x_record_key__mutmut_24": "ROLE_OF_TYPE never gives 'erasures' (an "
    "erasure's default topic is the workouts one).",
    "events.codec.x_record_key__mutmut_25": "as mutmut_24.",
}
"""Mutants no test can kill, each with why: left out of the score, listed in the report.
(mutmut numbers a function's mutants in order: an edit to the function may renumber them,
which the report then shows as a new survivor.)"""
