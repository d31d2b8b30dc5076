def handler(event, context):
    return "user bootstrap module"
