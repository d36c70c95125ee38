"""Creates the network interfaces an application load balancer's nodes have, in a moto server.

An ALB node is an ENI described "ELB app/<name>/<id>" in one of the ALB's subnets; moto does not
create them for its load balancers, so the hook's tests create them here with boto3 (the real
AWS SDK for Python) before invoking the hook. Prints the interface ids, one per line.

    alb_nodes.py ENDPOINT REGION FULL_NAME IP [IP...]
"""

import sys

import boto3


def main() -> None:
    endpoint, region, full_name, *ips = sys.argv[1:]
    if not ips:
        sys.exit("usage: alb_nodes.py ENDPOINT REGION FULL_NAME IP [IP...]")
    ec2 = boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    for ip in ips:
        eni = ec2.create_network_interface(
            SubnetId=subnet, PrivateIpAddress=ip, Description=f"ELB {full_name}"
        )["NetworkInterface"]
        print(eni["NetworkInterfaceId"])


if __name__ == "__main__":
    main()
