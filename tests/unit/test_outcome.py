from collections import Counter

from connector.outcome import WriteOutcome
from connector.timestream.errors import Kind
from connector.timestream.writer import CallFailure, WriteResult


def _outcome(**result: object) -> WriteOutcome:
    return WriteOutcome(samples=100, result=WriteResult(**result))  # type: ignore[arg-type]


def test_everything_written_is_204_with_the_count() -> None:
    response = _outcome(written=100).response()
    assert response.status == 204
    assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "100"


def test_throttling_is_503_with_retry_after() -> None:
    response = _outcome(
        written=50, failures=[CallFailure(Kind.THROTTLED, "ThrottlingException", "slow", 50)]
    ).response()
    assert response.status == 503 and response.headers["Retry-After"]
    assert "50 samples not written, 50 of 100 written. Retry the batch." in response.body.decode()
    assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "50"


def test_timestream_5xx_is_502_and_missing_table_is_503() -> None:
    assert (
        _outcome(failures=[CallFailure(Kind.RETRYABLE, "InternalServerException", "x", 100)]).response().status == 502
    )
    assert (
        _outcome(failures=[CallFailure(Kind.MISSING, "ResourceNotFoundException", "x", 100)]).response().status == 503
    )


def test_deadline_is_504() -> None:
    response = _outcome(written=10, unfinished=90).response()
    assert response.status == 504 and response.headers["Retry-After"]
    assert "90 samples unconfirmed; 10 of 100 written. Retry the batch." in response.body.decode()


def test_a_retryable_failure_wins_over_rejected_records() -> None:
    response = _outcome(
        written=10,
        rejected=Counter({"too old": 40}),
        failures=[CallFailure(Kind.THROTTLED, "ThrottlingException", "x", 50)],
    ).response()
    assert response.status == 503


def test_credentials_are_401_and_403() -> None:
    unknown = _outcome(failures=[CallFailure(Kind.UNAUTHENTICATED, "UnrecognizedClientException", "x", 100)])
    denied = _outcome(failures=[CallFailure(Kind.FORBIDDEN, "AccessDeniedException", "x", 100)])
    assert unknown.response().status == 401 and "WWW-Authenticate" in unknown.response().headers
    assert denied.response().status == 403


def test_rejected_and_invalid_samples_are_400_naming_counts_and_reasons() -> None:
    outcome = WriteOutcome(
        samples=100,
        invalid=Counter({"duplicate label name 'a'": 3}),
        result=WriteResult(written=90, rejected=Counter({"timestamp too old": 7})),
    )
    response = outcome.response()
    assert response.status == 400
    text = response.body.decode()
    assert "10 of 100 samples" in text and "90 written" in text
    assert "7 x timestamp too old" in text and "3 x duplicate label name 'a'" in text


def test_a_400_shows_the_five_commonest_reasons_and_counts_the_rest() -> None:
    """Eight reasons, counted 1 to 8: the five with the most samples are shown, with their counts."""
    invalid = Counter({f"reason {chr(ord('a') + i)}": i + 1 for i in range(8)})
    response = WriteOutcome(samples=100, invalid=invalid, result=WriteResult(written=64)).response()
    text = response.body.decode()
    assert response.status == 400
    shown = {reason for reason in invalid if f"{invalid[reason]} x {reason}" in text}
    assert shown == {"reason d", "reason e", "reason f", "reason g", "reason h"}, text
    assert not any(reason in text for reason in invalid if reason not in shown), text
    assert text.rstrip().endswith("; and 3 more reasons") and "36 of 100 samples" in text
