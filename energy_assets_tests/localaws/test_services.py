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
