"""Teams, memberships, invitations, member profiles and permissions."""
