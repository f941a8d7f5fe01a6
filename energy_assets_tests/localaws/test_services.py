"""Every AWS service the project uses answers over HTTP, through plain boto3 clients."""

from energy_assets_tests.localaws import deploy


def test_dynamodb(clients):
    dynamodb = clients("dynamodb")
    table = deploy.usage_table(dynamodb, deploy.unique("usage"))
    item = {"meter_id": {"S": "m1"}, "date": {"S": "2025-01-01"}, "usage": {"N": "12.5"}}
    dynamodb.put_item(TableName=table, Item=item)
    found = dynamodb.query(
        TableName=table,
        KeyConditionExpression="meter_id = :m",
        ExpressionAttributeValues={":m": {"S": "m1"}},
    )
    assert found["Items"] == [item]


def test_s3(clients):
    s3 = clients("s3")
    bucket = deploy.bucket(clients, deploy.unique("bucket"))
    s3.put_object(Bucket=bucket, Key="usage/date=2025-01-01/part.csv", Body=b"a,b\n")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="usage/")["Contents"]
    assert [o["Key"] for o in listed] == ["usage/date=2025-01-01/part.csv"]
    assert s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read() == b"a,b\n"


def test_cloudwatch_metrics_and_alarms(clients):
    cloudwatch = clients("cloudwatch")
    namespace = deploy.unique("EnergyAssets")
    cloudwatch.put_metric_data(
        Namespace=namespace, MetricData=[{"MetricName": "MAE", "Value": 1.5, "Unit": "None"}]
    )
    assert cloudwatch.list_metrics(Namespace=namespace)["Metrics"][0]["MetricName"] == "MAE"
    alarm = deploy.unique("mae-high")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace=namespace,
        MetricName="MAE",
        Statistic="Average",
        Period=86400,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    # Alarms are stored, not evaluated: the state stays as set.
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")
    (described,) = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert described["StateValue"] == "ALARM"


def test_application_autoscaling_for_an_endpoint_variant(clients):
    scaling = clients("application-autoscaling")
    resource = f"endpoint/{deploy.unique('endpoint')}/variant/AllTraffic"
    dimension = "sagemaker:variant:DesiredInstanceCount"
    scaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=dimension,
        MinCapacity=1,
        MaxCapacity=4,
    )
    scaling.put_scaling_policy(
        PolicyName="invocations",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=dimension,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 600.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
        },
    )
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)
    assert [p["PolicyName"] for p in policies["ScalingPolicies"]] == ["invocations"]


def test_dynamodb_query_reads_its_partition_in_order_across_pages(clients):
    """A key-range Query (the app's per-meter read) answers from its meter's items only, in
    key order, forwards and backwards, page by page: the local AWS narrows moto's Query to the
    partition (``localaws/dynamodb_query.py``) and must not change what it answers."""
    dynamodb = clients("dynamodb")
    table = deploy.usage_table(dynamodb, deploy.unique("usage"))
    days = [f"2025-01-{d:02d}" for d in range(1, 21)]
    for meter in ("m0", "m1", "m2"):
        for day in reversed(days):
            item = {"meter_id": {"S": meter}, "date": {"S": day}, "usage": {"N": "1"}}
            dynamodb.put_item(TableName=table, Item=item)
    asked = {
        "TableName": table,
        "KeyConditionExpression": "meter_id = :m AND #d BETWEEN :s AND :e",
        "ExpressionAttributeNames": {"#d": "date"},
        "ExpressionAttributeValues": {
            ":m": {"S": "m1"},
            ":s": {"S": "2025-01-05"},
            ":e": {"S": "2025-01-16"},
        },
        "PaginationConfig": {"PageSize": 5},
    }
    paginator = dynamodb.get_paginator("query")
    for forward in (True, False):
        pages = list(paginator.paginate(**asked, ScanIndexForward=forward))
        items = [item for page in pages for item in page["Items"]]
        assert {item["meter_id"]["S"] for item in items} == {"m1"}
        expected = days[4:16] if forward else days[4:16][::-1]
        assert [item["date"]["S"] for item in items] == expected
        assert len(pages) >= 3
    everything = dynamodb.scan(TableName=table)["Items"]
    assert len(everything) == 60  # a Scan still sees every partition


def test_dynamodb_index_query_still_reads_every_partition(clients):
    """A Query on a date index (the new-day sensor's probe) spans meters: the partition
    narrowing applies to base-table Queries only, however moto passes the index name."""
    dynamodb = clients("dynamodb")
    table = deploy.usage_table(dynamodb, deploy.unique("usage-indexed"), date_index="by-date")
    for meter in ("m0", "m1", "m2"):
        for day in ("2025-01-01", "2025-01-02"):
            item = {"meter_id": {"S": meter}, "date": {"S": day}, "usage": {"N": "1"}}
            dynamodb.put_item(TableName=table, Item=item)
    found = dynamodb.query(
        TableName=table,
        IndexName="by-date",
        KeyConditionExpression="#d = :d",
        ExpressionAttributeNames={"#d": "date"},
        ExpressionAttributeValues={":d": {"S": "2025-01-02"}},
    )
    assert sorted(item["meter_id"]["S"] for item in found["Items"]) == ["m0", "m1", "m2"]
