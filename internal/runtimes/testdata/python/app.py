import datetime
import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)

calls = 0


def ok(event, context):
    return {"hello": event.get("name", "world"), "n": 1}


def none(event, context):
    return None


def fail(event, context):
    raise ValueError("bad input: %s" % event.get("x"))


class CustomError(Exception):
    pass


def custom(event, context):
    raise CustomError("custom")


def count(event, context):
    global calls
    calls += 1
    return {"calls": calls, "pid": os.getpid()}


def ctx(event, context):
    cc = context.client_context
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "identity_id": context.identity.cognito_identity_id,
        "identity_pool": context.identity.cognito_identity_pool_id,
        "client_app_title": cc.client.app_title if cc else None,
        "client_custom": cc.custom if cc else None,
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "cwd": os.getcwd(),
    }


def log(event, context):
    print("printed line")
    logger.info("info %s", 42)
    logger.warning("careful")
    logging.getLogger("child").error("from child")
    logger.debug("not shown")
    return "logged"


def unserializable(event, context):
    return {"when": object()}


def dates(event, context):
    return {"d": datetime.date(2024, 1, 2)}


def big(event, context):
    return "x" * (7 * 1024 * 1024)


def echo(event, context):
    return event


not_callable = 3
