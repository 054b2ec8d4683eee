"""The test suite: runtime/ (the appliance), export/ (the workstation side), support/."""
