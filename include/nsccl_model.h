# header being written
