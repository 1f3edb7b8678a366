"""What a release does, in order, independent of CloudFormation."""
